// An FC-style HTTP handler: request is a readable stream with headers, path, queries, method, clientIP.
const getRawBody = require("raw-body");

exports.handler = (request, response, context) => {
  getRawBody(request, (err, body) => {
    response.setStatusCode(200);
    response.setHeader("content-type", "application/json");
    response.send(JSON.stringify({ method: request.method, path: request.path, queries: request.queries, body: body.toString(), requestId: context.requestId }));
  });
};
