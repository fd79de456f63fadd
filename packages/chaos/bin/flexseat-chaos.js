#!/usr/bin/env node
// The `flexseat-chaos` command. A committed, executable shim so that npm can link the bin on a fresh
// `npm ci`, before `npm run build` has produced dist/ (npm skips bins whose file is missing).
'use strict'
require('../dist/main.js')
