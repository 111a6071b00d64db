// Preloaded into Typewriter (NODE_OPTIONS=--require): every connection that is not to
// this machine is refused, so its telemetry (analytics-node to api.segment.io) never
// leaves and a build is offline for sure; the refused hosts are written down.
const net = require("net");
const dns = require("dns");
const fs = require("fs");
const refused = [];
const loopback = (host) => !host || host === "localhost" || host.startsWith("127.") || host === "::1";
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = typeof args[0] === "object" ? args[0] : { port: args[0], host: args[1] };
  if (options && options.host && !loopback(options.host)) {
    refused.push(options.host);
    throw new Error(`blocked: ${options.host} is not this machine`);
  }
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  const callback = rest[rest.length - 1];
  if (!loopback(host)) {
    refused.push(host);
    const error = new Error(`blocked: ${host} is not this machine`);
    error.code = "ENOTFOUND";
    return process.nextTick(() => callback(error));
  }
  return lookup.call(this, host, ...rest);
};
process.on("exit", () => {
  if (process.env.TYPEWRITER_REFUSED) fs.writeFileSync(process.env.TYPEWRITER_REFUSED, JSON.stringify(refused));
});
