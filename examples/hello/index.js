// An FC-style event handler: runs unchanged on Alibaba Cloud Function Compute and on Nimbus.
exports.handler = (event, context, callback) => {
  const name = event.length ? JSON.parse(event.toString()).name : "world";
  console.log(`saying hello to ${name}`);
  callback(null, JSON.stringify({ hello: name, requestId: context.requestId }));
};
