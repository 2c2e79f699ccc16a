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

process.exitCode = await main(process.argv);
