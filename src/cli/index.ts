#!/usr/bin/env node
/** Entry point: the only place that ends the process with a code. */
import { main } from './program.js';

// `nova-fleet report B | head`: the reader closed the pipe because it has what it wanted. Stop at once
// and quietly, as Unix tools do (exit 0), instead of a stack trace for EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

const code = await main(process.argv);
process.exitCode = code;
// A finished command is not kept alive by what it left behind (a Redis connection still reconnecting
// after a close cut short, issue 25): if the process has not ended on its own a second later, it ends.
setTimeout(() => process.exit(code), 1000).unref();
