// Loaded with `node --require` by the real-Prisma tests only (never by pgwarden).
// Prisma 6.19's WebAssembly schema engine races `pg_advisory_lock(72707369)` against a 10 s
// timer it never clears, so every `migrate deploy` waits 10 s after its work is done before the
// process exits. Unref that timer: it still fires while the engine waits for the lock (the
// lock's socket keeps the process alive), it only stops holding an otherwise finished process.
"use strict";
const originalSetTimeout = global.setTimeout;
global.setTimeout = function setTimeout(callback, ms, ...args) {
  const timer = originalSetTimeout(callback, ms, ...args);
  if (ms === 10000 && timer && typeof timer.unref === "function" && /wasm/.test(new Error().stack || "")) {
    timer.unref();
  }
  return timer;
};
