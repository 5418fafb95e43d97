/**
 * The `data:` payloads of a Server-Sent Events body, parsed as JSON, in order. Ends with the body,
 * or quietly when `signal` aborts it.
 */
export async function* serverSentData<T>(body: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for await (const chunk of body) {
      pending += decoder.decode(chunk, { stream: true });
      for (let end = pending.indexOf("\n\n"); end !== -1; end = pending.indexOf("\n\n")) {
        const event = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = event.split("\n").find((l) => l.startsWith("data: "));
        if (data) yield JSON.parse(data.slice(6)) as T;
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
