// Errors an entry script throws from run() to choose the client's status.

/**
 * The request does not fit the model: the client gets 400 with this message
 * (`run-error::bad-input`). Any other error thrown from `run` is an exception
 * (`run-error::exception`): the host logs its text with the request id and the client gets
 * Azure ML's generic 500 with `x-ms-run-function-failed: True`.
 */
export class BadInput extends Error {
  constructor(message) {
    super(message);
    this.name = 'BadInput';
  }
}

/** The message of anything thrown, without a stack (clients never see guest traces). */
export function messageOf(error) {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
