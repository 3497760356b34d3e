/*
 * `snowrange bench`: the benchmark command (issue 5). It starts what it
 * measures itself (an in-process master and coordinator, a coordinator
 * daemon and an nng echo server as child processes), runs each scenario for
 * a fixed time, and prints throughput, latency percentiles and the ratio to
 * a baseline measured in the same run. See docs/benchmarks.md.
 */
#ifndef SR_CLI_BENCH_H
#define SR_CLI_BENCH_H

/* Runs the bench command; argv[0] is "bench". Returns the process exit code:
 * 0 when every selected scenario produced numbers, 1 when one failed or
 * produced none, 2 for a usage error. */
int bench_main(int argc, char **argv);

#endif
