// The ES module face of ./index.cjs (tap loads a plugin both ways).
export const importLoader = '@flexseat/_tap-setup/import';
export const preload = true;
export const testFileExtensions = ['ts'];
export const plugin = () => ({});
