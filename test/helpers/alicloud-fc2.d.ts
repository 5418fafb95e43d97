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
    publishVersion(service: string, description?: string, headers?: object): Promise<Response>;
    listVersions(service: string, options?: object, headers?: object): Promise<Response>;
    deleteVersion(service: string, versionId: string, headers?: object): Promise<Response>;
    createAlias(service: string, alias: string, versionId: string, options?: object, headers?: object): Promise<Response>;
    getAlias(service: string, alias: string, headers?: object): Promise<Response>;
    updateAlias(service: string, alias: string, versionId: string | undefined, options?: object, headers?: object): Promise<Response>;
    listAliases(service: string, options?: object, headers?: object): Promise<Response>;
    deleteAlias(service: string, alias: string, headers?: object): Promise<Response>;
    putProvisionConfig(service: string, fn: string, qualifier: string, options: object, headers?: object): Promise<Response>;
    getProvisionConfig(service: string, fn: string, qualifier: string, headers?: object): Promise<Response>;
    listProvisionConfigs(options?: object, headers?: object): Promise<Response>;
    publishLayerVersion(layer: string, options: object, headers?: object): Promise<Response>;
    listLayers(options?: object, headers?: object): Promise<Response>;
    listLayerVersions(layer: string, options?: object, headers?: object): Promise<Response>;
    getLayerVersion(layer: string, version: number | string, options?: object, headers?: object): Promise<Response>;
    getLayerVersionByArn(arn: string, options?: object, headers?: object): Promise<Response>;
    deleteLayerVersion(layer: string, version: number | string, headers?: object): Promise<Response>;
    createCustomDomain(domain: string, options?: object, headers?: object): Promise<Response>;
    getCustomDomain(domain: string, headers?: object): Promise<Response>;
    updateCustomDomain(domain: string, options?: object, headers?: object): Promise<Response>;
    listCustomDomains(options?: object, headers?: object): Promise<Response>;
    deleteCustomDomain(domain: string, options?: object, headers?: object): Promise<Response>;
    getAccountSettings(options?: object, headers?: object): Promise<Response>;
    getAccountConfigs(config?: object): Promise<Response>;
    listReservedCapacities(options?: object, headers?: object): Promise<Response>;
    getTempBucketToken(): Promise<Response>;
    getTempCodeBucketPermission(service: string, fn: string, instanceType?: string, headers?: object): Promise<Response>;
    putLayerACL(layer: string, options?: object, headers?: object): Promise<Response>;
    publishLayerVersionForBigCode(layer: string, options?: object, headers?: object): Promise<Response>;
    instanceExec(service: string, fn: string, qualifier: string, instanceId: string, options?: object, hooks?: { onError?: (err: Error) => void; onClose?: () => void }): Promise<unknown>;
    get(path: string, query?: object | null, headers?: object): Promise<Response>;
    put(path: string, body?: unknown, headers?: object): Promise<Response>;
    request(method: string, path: string, query: object | null, body: unknown, headers?: object, opts?: object): Promise<Response>;
  }
  export = Client;
}
