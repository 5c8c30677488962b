// Starts fauxqs (an SQS emulator from npm) on 127.0.0.1 only, on a port
// the system picks, and prints "fauxqs listening on URL". Its own CLI
// listens on every interface; the tests reach nothing but loopback.
import { buildApp } from "fauxqs";

const app = buildApp({ logger: false, host: "localhost" });
const address = await app.listen({ port: 0, host: "127.0.0.1" });
console.log("fauxqs listening on " + address);
