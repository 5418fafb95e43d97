// An FC-style event handler: runs unchanged on Alibaba Cloud Function Compute and on Nimbus.
// It greets whoever the event names, whatever started it: a direct call ({"name": …}), a timer
// (FC's {triggerTime, triggerName, payload}), a NATS message (a CloudEvent, `data` holding the
// message) or an object-storage event (FC's {events: [{eventName, oss: {bucket, object}}]}).
exports.handler = (event, context, callback) => {
  const name = nameIn((event.length ? JSON.parse(event.toString()) : undefined) ?? {});
  console.log(`saying hello to ${name}`);
  callback(null, JSON.stringify({ hello: name, requestId: context.requestId }));
};

function nameIn(event) {
  if (typeof event.name === "string") return event.name;
  if (event.triggerName !== undefined) return nameInPayload(event.payload) ?? `timer ${event.triggerName} at ${event.triggerTime}`;
  if (event.specversion !== undefined) return event.data?.name ?? `a message on ${event.subject ?? event.source}`;
  const object = event.events?.[0];
  if (object?.oss) return `${object.oss.bucket.name}/${object.oss.object.key} (${object.eventName})`;
  return "world";
}

/** A timer's payload is a string; the README's timer sends {"name": "timer"} in it. */
function nameInPayload(payload) {
  try {
    const name = JSON.parse(payload).name;
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}
