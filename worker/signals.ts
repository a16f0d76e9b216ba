/**
 * Runs `handler` once on the first SIGINT or SIGTERM; a second signal while it runs forces an immediate exit, so a
 * user who presses Ctrl-C twice is never stuck.
 */
export function onShutdownSignal(handler: (signal: NodeJS.Signals) => Promise<void>): void {
  let running = false;
  const listener = (signal: NodeJS.Signals) => {
    if (running) {
      console.error(`${signal} again: exiting immediately`);
      process.exit(130);
    }
    running = true;
    handler(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
}
