// Module hooks of the test processes (registered by ./import.mjs, run in Node's hooks thread).
//
// - load: a TypeScript file is handed to the CommonJS loader (format `commonjs` without a source:
//   Node then loads it with `require`, whose `.ts` hook is tsx's, registered by ./import.mjs). tap
//   passes `--import` flags, so Node loads the test file through its ES module loader, which alone
//   knows no `.ts`; tsx's own ES module hooks would do it too, at about 0.3 s more CPU per process.
// - resolve: with coverage off (.taprc), tap's process-info hook (`--import=@tapjs/processinfo/…`,
//   which tap puts last on every test process's command line) resolves to an empty module. It
//   records every file loaded, for coverage and `tap --changed`, neither of which we use without
//   coverage; `npm run coverage` keeps it.
const PROCESS_INFO = /[/\\]@tapjs[/\\]processinfo[/\\]dist[/\\]esm[/\\]import\.mjs$/;
const TYPESCRIPT = /\.c?ts$/;

let skipProcessInfo = false;

export function initialize(data) {
  skipProcessInfo = data?.skipProcessInfo === true;
}

export async function resolve(specifier, context, next) {
  if (skipProcessInfo && PROCESS_INFO.test(specifier)) return { url: 'data:text/javascript,', shortCircuit: true };
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && TYPESCRIPT.test(new URL(url).pathname)) return { format: 'commonjs', shortCircuit: true };
  return next(url, context);
}
