/* orphans N: fork N children and exit at once, leaving them to the init of
 * the pid namespace. Each child blocks (no CPU) on a pipe whose only write
 * end this parent holds, and exits when the parent's exit closes it: a
 * zombie that only its new parent, or whoever the kernel hands it to, can
 * reap. Prints "orphans: forked K of N" before exiting. Built with gcc
 * -static by the Docker end-to-end tests, for an image FROM scratch. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	int fds[2];
	if (pipe(fds) != 0) {
		perror("orphans: pipe");
		return 1;
	}
	int forked = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			close(fds[1]);
			while (read(fds[0], &c, 1) > 0) {
			}
			_exit(0);
		}
		if (pid > 0)
			forked++;
	}
	printf("orphans: forked %d of %d\n", forked, n);
	fflush(stdout);
	return forked == n ? 0 : 1;
}
