import t from 'tap'
t.pass('tap runs TypeScript')
