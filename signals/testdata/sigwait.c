/* sigwait: a worker that stamps each SIGUSR2 the moment the kernel hands it
 * over. SIGUSR2 is blocked and taken with sigwait, so no handler or runtime
 * stands between delivery and the clock_gettime(CLOCK_MONOTONIC) it prints
 * (nanoseconds, one line per signal). Prints "ready" first. Run by naught
 * (a channel at fd 3), it says "online" on it first. Built with gcc by
 * BenchmarkForwardHop here and e2e's BenchmarkDaemonForwardHop. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	puts("ready");
	if (fcntl(3, F_GETFD) >= 0) {
		static const char online[] = "\"online\"\n";
		if (write(3, online, sizeof online - 1) < 0)
			return 1;
	}
	for (;;) {
		int sig;
		struct timespec ts;
		if (sigwait(&set, &sig) != 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	}
}
