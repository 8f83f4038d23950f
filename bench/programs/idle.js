// A node program that waits (its event loop, libuv's thread pool and V8's
// platform threads, all idle) and says "ready". Section 6 of bench/run
// moves it.
require("fs").readFile("/proc/self/stat", () => console.log("ready"));
setInterval(() => {}, 1 << 30);
