/** An expected failure with a one-line message meant for the user (no stack trace needed). */
export class GatewayError extends Error {
  override name = "GatewayError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
