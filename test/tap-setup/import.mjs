// Loaded by tap into every test process (node --import).
//
// 1. TypeScript: tsx's CommonJS hook strips the types from the test files (esbuild; the types are
//    checked once, by `npm run typecheck`), and ./hooks.mjs hands `.ts` files from Node's ES module
//    loader to it. tap's own `--import` flags make Node load the test file through that loader.
//    tsx's ES module hooks (`import 'tsx'`) would serve too, at about 0.3 s more CPU per file.
// 2. With coverage off (.taprc), tap's process-info hook, which it loads into every test process
//    after this file, is skipped (./hooks.mjs): it serves coverage and `tap --changed` only.
//    `npm run coverage` keeps it, and loads the files through tsx's ES module hooks as before.
// 3. The services a test starts (registry, SIP node, engine, CLI: node processes) run without tap's
//    process-info hook. tap adds that hook to every process a test spawns, for coverage, which this
//    project does not collect from child processes (.taprc); it doubles each service's start-up CPU
//    (about 0.6 s) and keeps a loader thread busy for its whole life, on a two-core machine running
//    two test files at once. tap adds it through process-on-spawn, whose listeners run in order
//    inside a wrapper of ChildProcess.prototype.spawn: the listener below is kept last of them, and
//    the environment is cleaned again on the way to the real spawn whichever wrapper is outermost.
import { ChildProcess } from 'node:child_process';
import { register } from 'node:module';
import { register as registerTsxRequire } from 'tsx/cjs/api';

if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0') {
  registerTsxRequire();
  register('./hooks.mjs', import.meta.url, { data: { skipProcessInfo: true } });
} else {
  await import('tsx');
}

const HOOK = /^"?--(?:import|loader|experimental-loader)=\S*@tapjs[/\\]processinfo\S*?"?$/;
const PROCESS_ON_SPAWN = Symbol.for('process-on-spawn@*:singletonId');

/** NODE_OPTIONS without tap's hook, or undefined when nothing else is left. */
function withoutHook(nodeOptions) {
  const rest = nodeOptions.split(/\s+/).filter((arg) => arg !== '' && !HOOK.test(arg));
  return rest.length > 0 ? rest.join(' ') : undefined;
}

function cleanEnv(options) {
  const env = { ...options.env };
  for (const key of Object.keys(env)) if (key.startsWith('_TAPJS_PROCESSINFO_')) delete env[key];
  if (env.NODE_OPTIONS !== undefined) {
    const rest = withoutHook(env.NODE_OPTIONS);
    if (rest === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = rest;
  }
  options.env = env;
}

function cleanEnvPairs(options) {
  options.envPairs = options.envPairs.flatMap((pair) => {
    if (pair.startsWith('_TAPJS_PROCESSINFO_')) return [];
    if (!pair.startsWith('NODE_OPTIONS=')) return [pair];
    const rest = withoutHook(pair.slice('NODE_OPTIONS='.length));
    return rest === undefined ? [] : [`NODE_OPTIONS=${rest}`];
  });
}

if (process.env.TAP === '1') {
  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function spawnWithoutProcessInfo(options) {
    const listeners = globalThis[PROCESS_ON_SPAWN]?.listeners;
    if (Array.isArray(listeners) && listeners.at(-1) !== cleanEnv) {
      const at = listeners.indexOf(cleanEnv);
      if (at >= 0) listeners.splice(at, 1);
      listeners.push(cleanEnv);
    }
    if (options && Array.isArray(options.envPairs)) cleanEnvPairs(options);
    return spawn.call(this, options);
  };
}
