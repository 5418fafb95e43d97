/** The shapes the Nimbus (FC 2.0) API answers with, as the client returns them. */

export interface AsyncConfig {
  service: string;
  function: string;
  qualifier: string;
  maxAsyncRetryAttempts: number;
  maxAsyncEventAgeInSeconds: number;
  destinationConfig: { onSuccess?: { destination: string }; onFailure?: { destination: string } };
  statefulInvocation: boolean;
  /** Nimbus's own (loop protection). */
  recursiveLoop?: "Terminate" | "Allow";
  maxChainDepth?: number;
  maxAsyncConcurrency?: number;
  createdTime: string;
  lastModifiedTime: string;
}

export interface ServiceVersion {
  versionId: string;
  description: string;
  createdTime: string;
  lastModifiedTime: string;
}

export interface Alias {
  aliasName: string;
  versionId: string;
  description: string;
  additionalVersionWeight: Record<string, number>;
  createdTime: string;
  lastModifiedTime: string;
}

export interface LayerVersion {
  layerName: string;
  version: number;
  description: string;
  codeSize: number;
  codeChecksum: string;
  compatibleRuntime: string[];
  layerVersionArn: string;
  createTime: string;
}

/** One asynchronous invocation, as FC's stateful-async-invocation API returns it. */
export interface StatefulAsyncInvocation {
  invocationId: string;
  requestId: string;
  status: "Enqueued" | "Running" | "Succeeded" | "Failed" | "Retrying" | "Stopping" | "Stopped" | "Expired" | "Invalid";
  serviceName: string;
  functionName: string;
  qualifier: string;
  startedTime: number;
  endTime?: number;
  alreadyRetriedTimes: number;
  destinationStatus: string;
  invocationErrorMessage: string;
  invocationPayload?: string;
  instanceId?: string;
  durationMs?: number;
  returnPayload?: string;
  /** Nimbus's own: the invocation this one runs again, and the one that ran this one again. */
  redriveOf?: string;
  redrivenAs?: string;
  events: { eventId: number; status: StatefulAsyncInvocation["status"]; timestamp: number; eventDetail: string }[];
}

/** One line of function output, as the logs API returns it. */
export interface FunctionLogLine {
  timestamp: string;
  requestId: string;
  instanceId: string;
  qualifier: string;
  versionId: string;
  stream: "stdout" | "stderr";
  message: string;
  part?: number;
}

/** One step of a function's figures. */
export interface FunctionMetricsPoint {
  timestamp: string;
  invocations: number;
  errors: number;
  throttles: number;
  timeouts: number;
  coldStarts: number;
  durationAvgMs: number | null;
  durationP50Ms: number | null;
  durationP90Ms: number | null;
  durationP99Ms: number | null;
  durationMaxMs: number | null;
}
