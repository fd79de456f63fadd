'use strict';
// flexseat's tap plugin (.taprc): test files run through ./import.mjs (tsx in place of tap's default
// ts-node, tap's process-info hook skipped while coverage is off, and services spawned without
// tap's coverage hook). It adds nothing to the Test class.
exports.importLoader = '@flexseat/_tap-setup/import';
exports.preload = true;
exports.testFileExtensions = ['ts'];
exports.plugin = () => ({});
