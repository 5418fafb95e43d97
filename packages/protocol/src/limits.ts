/** FC's defaults and limits (PRODUCT.md "Defaults and limits"); services may raise some through env. */
export const Defaults = {
  memorySizeMb: 128,
  timeoutSeconds: 3,
  initializationTimeoutSeconds: 3,
  instanceConcurrency: 1,
  caPort: 9000,
  /** What a custom-container function created without a handler reports (images ignore it, as in FC). */
  handler: "index.handler",
  listLimit: 20,
} as const;

export const Limits = {
  memorySizeMb: { min: 128, max: 32_768, step: 64 },
  timeoutSeconds: { min: 1, max: 86_400 },
  initializationTimeoutSeconds: { min: 1, max: 300 },
  instanceConcurrency: { min: 1, max: 200 },
  caPort: { min: 1, max: 65_535 },
  descriptionChars: 256,
  environmentBytes: 4 * 1024,
  layersPerFunction: 5,
  listLimitMax: 100,
  tagsPerResource: 20,
  tagKeyChars: 128,
  tagValueChars: 128,
  /** Zipped code package, as bytes after base64 decoding. */
  codeZipBytes: 100 * 1024 * 1024,
  /** Sum of the uncompressed sizes of every entry of a code package. */
  codeUnzippedBytes: 500 * 1024 * 1024,
  codeEntries: 100_000,
  /** One component of an entry's path in a code package, in UTF-8 bytes (Linux's NAME_MAX). */
  codeEntryNameBytes: 255,
  /** A whole entry path in a code package, in UTF-8 bytes (Linux's PATH_MAX, less the code root). */
  codeEntryPathBytes: 4096,
  /** A custom container's image reference (FC 3.0 allows 1024 characters). */
  containerImageChars: 1024,
  /** customContainerConfig.command / args: the JSON text, its entries, and each entry. */
  containerCommandChars: 16 * 1024,
  containerCommandEntries: 256,
  containerCommandEntryChars: 4096,
  /** Management API bodies other than code uploads. */
  managementBodyBytes: 1024 * 1024,
  requestHeaderBytes: 8 * 1024,
  /** Nesting of arrays and objects in a JSON request body (FC's own bodies nest a few levels). */
  jsonDepth: 64,
  dateSkewSeconds: 15 * 60,
  /** How far ahead a signed URL may expire (the bound of S3's and OSS's V4 presigned URLs too). */
  signedUrlMaxSeconds: 7 * 24 * 3600,
} as const;
