// The official FC SDK ships no types; this covers what the compatibility suites call.
declare module "@alicloud/fc2" {
  // Response bodies are whatever JSON the server sent; suites assert on their shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  interface Response<T = any> {
    headers: Record<string, string>;
    data: T;
  }
  interface Config {
    accessKeyID: string;
    accessKeySecret: string;
    region: string;
    endpoint?: string;
    timeout?: number;
  }
  class Client {
    constructor(accountId: string, config: Config);
    createService(name: string, options?: object, headers?: object): Promise<Response>;
    getService(name: string, headers?: object, qualifier?: string): Promise<Response>;
    updateService(name: string, options?: object, headers?: object): Promise<Response>;
    deleteService(name: string, options?: object, headers?: object): Promise<Response>;
    listServices(options?: object, headers?: object): Promise<Response>;
    createFunction(service: string, options: object, headers?: object): Promise<Response>;
    getFunction(service: string, fn: string, headers?: object, qualifier?: string): Promise<Response>;
    getFunctionCode(service: string, fn: string, headers?: object, qualifier?: string): Promise<Response>;
    updateFunction(service: string, fn: string, options: object, headers?: object): Promise<Response>;
    deleteFunction(service: string, fn: string, options?: object, headers?: object): Promise<Response>;
    listFunctions(service: string, options?: object, headers?: object, qualifier?: string): Promise<Response>;
    tagResource(arn: string, tags: Record<string, string>, options?: object, headers?: object): Promise<Response>;
    untagResource(arn: string, keys: string[], all?: boolean, options?: object, headers?: object): Promise<Response>;
    getResourceTags(options?: object, headers?: object): Promise<Response>;
    invokeFunction(service: string, fn: string, event: string | Buffer, headers?: object, qualifier?: string, opts?: { rawBuf?: boolean }): Promise<Response>;
    createTrigger(service: string, fn: string, options: object, headers?: object): Promise<Response>;
    getTrigger(service: string, fn: string, trigger: string, headers?: object): Promise<Response>;
    updateTrigger(service: string, fn: string, trigger: string, options: object, headers?: object): Promise<Response>;
    deleteTrigger(service: string, fn: string, trigger: string, options?: object, headers?: object): Promise<Response>;
    listTriggers(service: string, fn: string, options?: object, headers?: object): Promise<Response>;
    putOnDemandConfig(service: string, fn: string, qualifier: string, options: object, headers?: object): Promise<Response>;
    getOnDemandConfig(service: string, fn: string, qualifier: string, options?: object, headers?: object): Promise<Response>;
    deleteOnDemandConfig(service: string, fn: string, qualifier: string, options?: object, headers?: object): Promise<Response>;
    listOnDemandConfigs(options?: object, headers?: object): Promise<Response>;
    listInstances(service: string, fn: string, qualifier?: string, options?: object, headers?: object): Promise<Response>;
    putFunctionAsyncConfig(service: string, fn: string, qualifier: string | undefined, options: object, headers?: object): Promise<Response>;
    getFunctionAsyncConfig(service: string, fn: string, qualifier?: string, headers?: object): Promise<Response>;
    deleteFunctionAsyncConfig(service: string, fn: string, qualifier?: string, headers?: object): Promise<Response>;
    listFunctionAsyncConfigs(service: string, fn: string, options?: object, headers?: object): Promise<Response>;
    get(path: string, query?: object | null, headers?: object): Promise<Response>;
    put(path: string, body?: unknown, headers?: object): Promise<Response>;
    request(method: string, path: string, query: object | null, body: unknown, headers?: object, opts?: object): Promise<Response>;
  }
  export = Client;
}
