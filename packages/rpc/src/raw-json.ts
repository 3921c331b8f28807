/**
 * A method result that is already JSON text: the handler puts it into the response as is.
 * For large results serialized off the main thread (debug_traceTransaction in the execution
 * pool), so the thread that produces blocks neither rebuilds nor re-serializes them.
 */
export class RawJson {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }
}
