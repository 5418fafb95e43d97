import { describe, expect, it } from "vitest";
import { parseOrThrow } from "../validation.js";
import { CreateCustomDomainBody, isAddressOrLocalName } from "./domain.js";

/** Every spelling of loopback a URL parser or inet_aton accepts, and other address literals. */
const ADDRESS_FORMS = [
  "127.0.0.1",
  "127.1",
  "127.0.1",
  "2130706433",
  "0x7f000001",
  "0X7F000001",
  "0x7f.1",
  "0x7f.0.0.1",
  "017700000001",
  "0177.0.0.01",
  "10.0.0.0x1",
  "1.2.3.4.",
  "0x",
  "::1",
  "[::1]",
  "[::ffff:127.0.0.1]",
  "fe80::1%25lo",
  "localhost",
  "api.localhost",
];

describe("custom domain names", () => {
  it("refuses IP addresses in every numeric form, IPv6 literals and local names", () => {
    for (const domain of ADDRESS_FORMS) {
      expect(isAddressOrLocalName(domain), domain).toBe(true);
      expect(() => parseOrThrow(CreateCustomDomainBody, { domainName: domain }), domain).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
  });

  it("takes DNS names, digits and hex-looking labels included where they are not last", () => {
    for (const domain of ["example.com", "0x7f.example.com", "127.0.0.1.nip.io", "a1.b2", "1password.com", "app.0xdead.dev"]) {
      expect(isAddressOrLocalName(domain), domain).toBe(false);
      expect(parseOrThrow(CreateCustomDomainBody, { domainName: domain.toUpperCase() }).domainName).toBe(domain);
    }
  });
});
