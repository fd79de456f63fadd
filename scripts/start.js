// `npm start`: runs every site of sites/ on this machine (see packages/sim/src/main.ts for flags:
// `npm start -- --reset`, `--sites-dir <dir>`, `--state-dir <dir>`).
require('../packages/sim/dist/main.js')
