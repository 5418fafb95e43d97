// The benchmark's no-op handler in Lambda's shape.
exports.noop = async () => ({ statusCode: 200, body: "ok" });
