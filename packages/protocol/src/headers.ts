/** HTTP and NATS header names; lowercase, as Node delivers them. */
export const Headers = {
  requestId: "x-fc-request-id",
  accountId: "x-fc-account-id",
  securityToken: "x-fc-security-token",
  date: "date",
  authorization: "authorization",
  contentMd5: "content-md5",
  contentType: "content-type",
  ifMatch: "if-match",
  etag: "etag",
  codeChecksum: "x-fc-code-checksum",
  invocationType: "x-fc-invocation-type",
  logType: "x-fc-log-type",
  logResult: "x-fc-log-result",
  errorType: "x-fc-error-type",
  traceparent: "traceparent",
} as const;

/** The prefix of the headers FC's signature covers. */
export const SIGNED_HEADER_PREFIX = "x-fc-";
