// SPDX-License-Identifier: MIT
/*
 * hmmsim-runner: runs hmmsim scenarios, compiled to a line program by hmmsim (src/cli/kernel/
 * program.ts), on a real Linux kernel with lib/test_hmm.c's dmirror devices, and prints the result
 * of every step as one JSON line prefixed with "@@R ".
 *
 * Processes. Every process of a scenario is a real process (an "agent") that executes the steps
 * naming it. The coordinator (this program's first process) reads the program and sends each step
 * to its agent over a pipe, then waits for the agent's reply before the next step, so the steps run
 * strictly in order, as in hmmsim. A scenario's first processes are forked from the coordinator; a
 * `fork` step forks the agent itself, so the child inherits its parent's memory and open files as
 * the kernel defines. Every agent slot's pipes are created before the first agent, so a forked
 * child finds its own pipes already open. An `exit` step ends the agent; the coordinator waits on a
 * pidfd until the process is gone (its mm torn down, its files released) before going on.
 *
 * Memory. The agent's own buffers (ioctl buffers, patterns) live in a static array, not in mmap'd
 * memory, so the scenario's mappings are the only ones the runner creates at run time.
 *
 * Program lines (numbers are decimal; `-` separates nothing, fields are blank-separated):
 *   scenario NAME THP HUGETLB_PAGES     start a scenario (THP: always|madvise|never)
 *   process SLOT                        create an initial process in agent slot SLOT
 *   step ID OP ARGS...                  one step (below); ID is echoed in its result
 *   end                                 end of the scenario: every agent exits
 * Step ops:
 *   mmap P MAP PAGES PROT FLAGS ALIGN_PMD THP(0 none, 1 hugepage, 2 nohugepage)
 *   munmap P MAP PAGE PAGES | mprotect P MAP PAGE PAGES PROT | madvise P MAP PAGE PAGES ADVICE
 *   mremap P MAP PAGE PAGES NEWMAP NEWPAGES FLAGS TOMAP TOPAGE   (TOMAP -1: no new address; the
 *                                       result becomes mapping NEWMAP)
 *   vmas P MAP PAGE PAGES               the VMAs meeting the range, from /proc/self/maps
 *   fallocate P MAP MODE OFFSET LENGTH  fallocate on the file of a file mapping (the agent that
 *                                       mapped it keeps its descriptor; OFFSET in the file)
 *   write P MAP PAGE PAGES PATTERN | read P MAP PAGE PAGES
 *   store32 P MAP OFFSET VALUE | load32 P MAP OFFSET
 *   fork P CHILD_SLOT | exit P
 *   open P FILE MINOR | close P FILE
 *   ioctl P FILE CMD MAP PAGE PAGES [PATTERN]   (CMD: read write migrate_to_dev migrate_to_sys
 *                                                snapshot exclusive check_exclusive release)
 * PATTERN is NSEG then per segment: PAGES (-1: the rest) KIND ARGS, with KIND f VALUE | i BASE STEP
 * | p BASE STEP | b N BYTE... (fill, int32 words, first word of each page, repeated bytes).
 * Results: {"id":ID,"ret":R,...} with cpages/faults (device commands that succeeded), data (pages
 * as FNV-1a hashes, run-length coded "h*n"), prot (snapshot bytes in hex), value, signal, vmas
 * (each VMA as its first page relative to the range, its pages and its permissions: "-2+8 rw-p").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lib/test_hmm_uapi.h>

#define PAGE 4096UL
#define PMD (2UL << 20)
#define MAX_SLOTS 16
#define MAX_MAPS 64
#define MAX_FILES 16
#define MAX_SEGS 8
#define MAX_BYTES 16
#define BUF_BYTES (64UL << 20) /* the largest range one step may touch */
#define OUT_BYTES (BUF_BYTES / PAGE * 12 + 4096)

enum op {
	OP_MMAP = 1, OP_MUNMAP, OP_MPROTECT, OP_MADVISE, OP_WRITE, OP_READ, OP_STORE32, OP_LOAD32,
	OP_FORK, OP_EXIT, OP_OPEN, OP_CLOSE, OP_IOCTL, OP_QUIT, OP_MREMAP, OP_VMAS, OP_FALLOCATE
};

struct seg {
	long pages; /* -1: the rest of the range */
	char kind;
	long a, b;
	int nbytes;
	unsigned char bytes[MAX_BYTES];
};

struct pattern {
	int nseg;
	struct seg seg[MAX_SEGS];
};

/* One step, as the coordinator sends it to an agent (addresses resolved). */
struct cmd {
	int op;
	long id;
	unsigned long addr;
	long pages;
	long a, b, c, d;
	unsigned long addr2; /* mremap's new address (0: none) */
	long map;            /* mmap, fallocate: the mapping id */
	struct pattern pat;
};

/* An agent's answer: the result line is already printed; addr is mmap's address. */
struct reply {
	long ret;
	unsigned long addr;
	long pid;
};

struct slot {
	int cmd[2], rep[2];
	pid_t pid;
	int alive;
};

static struct slot slots[MAX_SLOTS];
static unsigned long map_addr[MAX_MAPS];
static long map_pages[MAX_MAPS];
static int file_fd[MAX_FILES]; /* in the agent that opened it */
static int map_fd[MAX_MAPS];   /* a file mapping's file, in the agent that mapped it */
static int my_slot = -1;
static unsigned char buf[BUF_BYTES];
static unsigned char pat_buf[BUF_BYTES];
static char out[OUT_BYTES];
static size_t out_len;
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_sig;

static void die(const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(1, "@@E %s\n", msg);
	_exit(3);
}

static void emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_len += vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (out_len >= sizeof(out))
		die("result line too long");
}

static void flush_line(void)
{
	size_t done = 0;

	emit("}\n");
	while (done < out_len) {
		ssize_t n = write(1, out + done, out_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(4);
		done += n;
	}
	out_len = 0;
}

static void full_read(int fd, void *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("pipe read failed (%s)", n ? strerror(errno) : "end of file");
		done += n;
	}
}

static void full_write(int fd, const void *p, size_t len)
{
	if (write(fd, p, len) != (ssize_t)len)
		die("pipe write failed (%s)", strerror(errno));
}

/* ---- patterns, as hmmsim's src/cli/scenario/patterns.ts defines them ------------------------ */

static void pattern_fill(const struct pattern *pat, unsigned char *p, size_t len)
{
	size_t at = 0;

	memset(p, 0, len);
	for (int s = 0; s < pat->nseg && at < len; s++) {
		const struct seg *g = &pat->seg[s];
		size_t n = g->pages < 0 ? len - at : (size_t)g->pages * PAGE;

		if (n > len - at)
			n = len - at;
		unsigned char *q = p + at;

		if (g->kind == 'f') {
			memset(q, (int)g->a, n);
		} else if (g->kind == 'b') {
			for (size_t i = 0; i < n; i++)
				q[i] = g->bytes[i % g->nbytes];
		} else if (g->kind == 'i') {
			for (size_t k = 0; k * 4 + 4 <= n; k++) {
				uint32_t v = (uint32_t)(g->a + (long)k * g->b);

				memcpy(q + k * 4, &v, 4);
			}
		} else if (g->kind == 'p') {
			for (size_t k = 0; k * PAGE + 4 <= n; k++) {
				uint32_t v = (uint32_t)(g->a + (long)k * g->b);

				memcpy(q + k * PAGE, &v, 4);
			}
		}
		at += n;
	}
}

/* ---- results ---------------------------------------------------------------------------------- */

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void emit_data(const unsigned char *p, long pages)
{
	emit(",\"data\":\"");
	for (long i = 0; i < pages;) {
		uint32_t h = fnv1a(p + i * PAGE, PAGE);
		long j = i + 1;

		while (j < pages && fnv1a(p + j * PAGE, PAGE) == h)
			j++;
		emit("%s%08x", i ? "," : "", h);
		if (j - i > 1)
			emit("*%ld", j - i);
		i = j;
	}
	emit("\"");
}

static void on_fault(int sig)
{
	fault_sig = sig;
	siglongjmp(fault_jmp, 1);
}

static const char *sig_name(int sig)
{
	return sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "SIG?";
}

/* ---- the agent: one process of the scenario -------------------------------------------------- */

static void check_range(const struct cmd *c)
{
	if (c->pages < 0 || (unsigned long)c->pages * PAGE > BUF_BYTES)
		die("step %ld: a range of %ld pages is larger than the runner's %lu MiB buffer", c->id,
		    c->pages, BUF_BYTES >> 20);
}

static int create_tmpfile(size_t len)
{
	int fd = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR, 0600);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, len)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static long do_mmap(const struct cmd *c, unsigned long *addr_out)
{
	size_t len = (size_t)c->pages * PAGE;
	int prot = (int)c->a, flags = (int)c->b, align = (int)c->c, thp = (int)c->d;
	int fd = -1;

	if (!(flags & MAP_ANONYMOUS)) {
		fd = create_tmpfile(len);
		if (fd < 0)
			return fd;
	}
	char *p = mmap(NULL, align ? len + PMD : len, prot, flags, fd, 0);

	if (p == MAP_FAILED) {
		long e = -errno;

		if (fd >= 0)
			close(fd);
		return e;
	}
	if (fd >= 0)
		map_fd[c->map] = fd; /* kept for fallocate, as hmmsim keeps it */
	unsigned long a = (unsigned long)p;

	if (align) {
		unsigned long aligned = (a + PMD - 1) & ~(PMD - 1);

		if (aligned > a)
			munmap(p, aligned - a);
		if (a + len + PMD > aligned + len)
			munmap((void *)(aligned + len), a + len + PMD - (aligned + len));
		a = aligned;
	}
	if (thp && madvise((void *)a, len, thp == 1 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return -1000 - errno; /* reported as a failed hint */
	*addr_out = a;
	return 0;
}

static unsigned long ioctl_cmd(long which)
{
	switch (which) {
	case 0: return HMM_DMIRROR_READ;
	case 1: return HMM_DMIRROR_WRITE;
	case 2: return HMM_DMIRROR_MIGRATE_TO_DEV;
	case 3: return HMM_DMIRROR_MIGRATE_TO_SYS;
	case 4: return HMM_DMIRROR_SNAPSHOT;
	case 5: return HMM_DMIRROR_EXCLUSIVE;
	case 6: return HMM_DMIRROR_CHECK_EXCLUSIVE;
	case 7: return HMM_DMIRROR_RELEASE;
	}
	die("unknown dmirror command %ld", which);
	return 0;
}

static void run_ioctl(const struct cmd *c)
{
	int fd = file_fd[c->a];
	long which = c->b;
	struct hmm_dmirror_cmd cmd = { 0 };
	long ret;

	check_range(c);
	if (which == 1)
		pattern_fill(&c->pat, buf, c->pages * PAGE);
	else if (which != 7)
		memset(buf, 0, c->pages * PAGE);
	cmd.addr = c->addr;
	cmd.ptr = (uintptr_t)buf;
	cmd.npages = which == 7 ? 1 : c->pages;
	/* As hmm-tests.c's helper: retry on EINTR; the outputs are valid only on success. */
	do {
		ret = ioctl(fd, ioctl_cmd(which), &cmd);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		ret = -errno;
	emit(",\"ret\":%ld", ret);
	if (ret == 0 && which != 7) {
		emit(",\"cpages\":%llu,\"faults\":%llu", (unsigned long long)cmd.cpages,
		     (unsigned long long)cmd.faults);
		if (which == 0 || which == 2 || which == 5)
			emit_data(buf, c->pages);
		if (which == 4) {
			emit(",\"prot\":\"");
			for (long i = 0; i < c->pages; i++)
				emit("%02x", buf[i]);
			emit("\"");
		}
	}
}

/* A CPU access; a SIGSEGV or SIGBUS it raises is reported as the step's signal. */
static __attribute__((noinline)) void cpu_access(const struct cmd *c)
{
	char *addr = (char *)c->addr;
	size_t len = (size_t)c->pages * PAGE;
	volatile uint32_t value = 0;

	if (c->op == OP_WRITE || c->op == OP_READ) {
		check_range(c);
		if (c->op == OP_WRITE)
			pattern_fill(&c->pat, pat_buf, len);
	}
	fault_sig = 0;
	if (sigsetjmp(fault_jmp, 1) == 0) {
		/* Page by page, in address order, as hmmsim's Process.write/read. */
		if (c->op == OP_WRITE)
			for (long page = 0; page < c->pages; page++)
				memcpy(addr + page * PAGE, pat_buf + page * PAGE, PAGE);
		else if (c->op == OP_READ)
			for (long page = 0; page < c->pages; page++)
				memcpy(buf + page * PAGE, addr + page * PAGE, PAGE);
		else if (c->op == OP_STORE32)
			*(volatile uint32_t *)addr = (uint32_t)c->a;
		else
			value = *(volatile uint32_t *)addr;
	}
	if (fault_sig)
		emit(",\"signal\":\"%s\"", sig_name(fault_sig));
	else if (c->op == OP_READ)
		emit_data(buf, c->pages);
	else if (c->op == OP_LOAD32)
		emit(",\"value\":%u", (unsigned)value);
}

/* The VMAs of this process meeting [c->addr, c->addr + c->pages pages), from /proc/self/maps. */
static void emit_vmas(const struct cmd *c)
{
	unsigned long start = c->addr, end = c->addr + (unsigned long)c->pages * PAGE;
	size_t len = 0;
	int fd = open("/proc/self/maps", O_RDONLY);
	int first = 1;

	if (fd < 0)
		die("step %ld: /proc/self/maps: %s", c->id, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + len, BUF_BYTES - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("step %ld: reading /proc/self/maps: %s", c->id, strerror(errno));
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = 0;
	emit(",\"ret\":0,\"vmas\":[");
	for (char *line = (char *)buf; *line;) {
		char *nl = strchr(line, '\n');
		unsigned long a, b;
		char perms[5];

		if (nl)
			*nl = 0;
		if (sscanf(line, "%lx-%lx %4s", &a, &b, perms) == 3 && b > start && a < end) {
			emit("%s\"%ld+%lu %s\"", first ? "" : ",", ((long)a - (long)start) / (long)PAGE,
			     (b - a) / PAGE, perms);
			first = 0;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	emit("]");
}

static long agent_step(const struct cmd *c, struct reply *r)
{
	void *addr = (void *)c->addr;
	size_t len = (size_t)c->pages * PAGE;
	long ret = 0;

	out_len = 0;
	emit("@@R {\"id\":%ld", c->id);
	switch (c->op) {
	case OP_MMAP:
		ret = do_mmap(c, &r->addr);
		if (ret <= -1000) {
			emit(",\"ret\":%ld,\"hint\":true", -(-ret - 1000));
			return ret;
		}
		emit(",\"ret\":%ld", ret);
		break;
	case OP_MUNMAP:
		ret = munmap(addr, len) ? -errno : 0;
		emit(",\"ret\":%ld", ret);
		break;
	case OP_MREMAP: {
		void *p = mremap(addr, len, (size_t)c->a * PAGE, (int)c->b, (void *)c->addr2);

		ret = p == MAP_FAILED ? -errno : 0;
		if (p != MAP_FAILED)
			r->addr = (unsigned long)p;
		emit(",\"ret\":%ld", ret);
		break;
	}
	case OP_VMAS:
		emit_vmas(c);
		break;
	case OP_FALLOCATE:
		ret = map_fd[c->map] < 0 ? -EBADF :
		      fallocate(map_fd[c->map], (int)c->a, (off_t)c->b, (off_t)c->c) ? -errno : 0;
		emit(",\"ret\":%ld", ret);
		break;
	case OP_MPROTECT:
		ret = mprotect(addr, len, (int)c->a) ? -errno : 0;
		emit(",\"ret\":%ld", ret);
		break;
	case OP_MADVISE:
		ret = madvise(addr, len, (int)c->a) ? -errno : 0;
		emit(",\"ret\":%ld", ret);
		break;
	case OP_WRITE:
	case OP_READ:
	case OP_STORE32:
	case OP_LOAD32:
		cpu_access(c);
		break;
	case OP_OPEN: {
		char path[64];

		snprintf(path, sizeof(path), "/dev/hmm_dmirror%ld", c->b);
		int fd = open(path, O_RDWR);

		ret = fd < 0 ? -errno : 0;
		if (fd >= 0)
			file_fd[c->a] = fd;
		emit(",\"ret\":%ld", ret);
		break;
	}
	case OP_CLOSE:
		ret = close(file_fd[c->a]) ? -errno : 0;
		file_fd[c->a] = -1;
		emit(",\"ret\":%ld", ret);
		break;
	case OP_IOCTL:
		run_ioctl(c);
		break;
	default:
		die("agent: unexpected op %d", c->op);
	}
	return ret;
}

static void agent_loop(int slot);

static void agent_fork(const struct cmd *c, struct reply *r)
{
	int child = (int)c->a;
	pid_t pid;

	out_len = 0;
	emit("@@R {\"id\":%ld", c->id);
	pid = fork();
	if (pid < 0) {
		emit(",\"ret\":%d", -errno);
		r->ret = -errno;
		return;
	}
	if (pid == 0)
		agent_loop(child); /* never returns */
	emit(",\"ret\":0");
	r->ret = 0;
	r->pid = pid;
}

static void agent_loop(int slot)
{
	struct sigaction sa = { 0 };

	my_slot = slot;
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (;;) {
		struct cmd c;
		struct reply r = { 0 };

		full_read(slots[my_slot].cmd[0], &c, sizeof(c));
		if (c.op == OP_QUIT)
			_exit(0);
		if (c.op == OP_EXIT) {
			out_len = 0;
			emit("@@R {\"id\":%ld,\"ret\":0", c.id);
			flush_line();
			_exit(0);
		}
		if (c.op == OP_FORK)
			agent_fork(&c, &r);
		else
			r.ret = agent_step(&c, &r);
		flush_line();
		full_write(slots[my_slot].rep[1], &r, sizeof(r));
	}
}

/* ---- the coordinator ------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("cannot write \"%s\" to %s: %s", text, path, strerror(errno));
	close(fd);
}

/*
 * khugepaged wakes and scans at once when a process registers with it (MADV_HUGEPAGE, a THP fault)
 * while it has none to scan: it waits without a timeout then, and the hour-long
 * scan_sleep_millisecs only applies between scans of registered processes. So the coordinator
 * keeps one registered, with a mapping larger than one scan (pages_to_scan: 4096 pages) that has
 * nothing to collapse: a scan ends inside it, and khugepaged never reaches an agent. Far below the
 * scenario's mappings, which are placed top-down near mmap_base.
 */
#define HOLD_ADDR (16UL << 40)
#define HOLD_BYTES (4UL << 30)

static void khugepaged_hold(void)
{
	static volatile char *hold;

	if (!hold) {
		void *p = mmap((void *)HOLD_ADDR, HOLD_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == MAP_FAILED)
			die("khugepaged hold: mmap: %s", strerror(errno));
		hold = p;
		hold[0] = 1; /* an anon_vma: khugepaged registers only VMAs that have one */
	}
	/* Registers the mm whenever THP is on (hugepage_madvise -> khugepaged_enter_vma). */
	if (madvise((void *)hold, HOLD_BYTES, MADV_HUGEPAGE))
		die("khugepaged hold: madvise: %s", strerror(errno));
}

/*
 * hmmsim's mappings start below a 2 MiB boundary (MMAP_BASE); the top of the guest's free area
 * is only page aligned. A shared anonymous filler (it never merges) takes the space up to the
 * next 2 MiB boundary below it, so 2 MiB-aligned searches (hugetlb, THP-aligned anonymous
 * mappings) land where they do in hmmsim.
 */
static void align_free_top(void)
{
	char *p = mmap(NULL, PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long top, base;

	if (p == MAP_FAILED)
		die("filler: mmap: %s", strerror(errno));
	top = (unsigned long)p + PAGE;
	base = top & ~(PMD - 1);
	munmap(p, PAGE);
	if (base == top)
		return;
	p = mmap((void *)base, top - base, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (p == MAP_FAILED)
		die("filler: mmap: %s", strerror(errno));
}

static void start_agent(int slot)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		agent_loop(slot);
	slots[slot].pid = pid;
	slots[slot].alive = 1;
}

static void wait_gone(int slot)
{
	int pidfd = (int)syscall(SYS_pidfd_open, slots[slot].pid, 0);

	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	/* Initial agents are our children: reap them (forked ones are reaped by init). */
	waitpid(slots[slot].pid, NULL, WNOHANG);
	slots[slot].alive = 0;
}

static struct reply send_cmd(int slot, struct cmd *c)
{
	struct reply r;

	if (slot < 0 || slot >= MAX_SLOTS || !slots[slot].alive)
		die("step %ld: process slot %d is not running", c->id, slot);
	full_write(slots[slot].cmd[1], c, sizeof(*c));
	if (c->op == OP_EXIT) {
		wait_gone(slot);
		r.ret = 0;
		return r;
	}
	full_read(slots[slot].rep[0], &r, sizeof(r));
	return r;
}

static char *next_tok(char **s)
{
	char *t = strtok_r(NULL, " \t\n", s);

	if (!t)
		die("program: a line ended too early");
	return t;
}

static long next_num(char **s)
{
	char *t = next_tok(s), *end;
	long v = strtol(t, &end, 10);

	if (*end)
		die("program: \"%s\" is not a number", t);
	return v;
}

static void parse_pattern(char **s, struct pattern *pat)
{
	pat->nseg = (int)next_num(s);
	if (pat->nseg < 1 || pat->nseg > MAX_SEGS)
		die("program: %d pattern segments (1..%d)", pat->nseg, MAX_SEGS);
	for (int i = 0; i < pat->nseg; i++) {
		struct seg *g = &pat->seg[i];

		g->pages = next_num(s);
		g->kind = next_tok(s)[0];
		if (g->kind == 'b') {
			g->nbytes = (int)next_num(s);
			if (g->nbytes < 1 || g->nbytes > MAX_BYTES)
				die("program: %d pattern bytes (1..%d)", g->nbytes, MAX_BYTES);
			for (int k = 0; k < g->nbytes; k++)
				g->bytes[k] = (unsigned char)next_num(s);
		} else {
			g->a = next_num(s);
			g->b = g->kind == 'f' ? 0 : next_num(s);
		}
	}
}

/* The address of a page of a mapping; 0 when its mmap failed (the step is then not run). */
static unsigned long range_addr(long map, long page, struct cmd *c)
{
	if (map < 0 || map >= MAX_MAPS)
		die("step %ld: mapping id %ld out of range", c->id, map);
	return map_addr[map] ? map_addr[map] + page * PAGE : 0;
}

/* Sends a step that makes mapping MAP (PAGES pages) and records its address when it worked. */
static void send_mapping(int slot, struct cmd *c, long map, long pages)
{
	struct reply r;

	if (map < 0 || map >= MAX_MAPS)
		die("step %ld: mapping id %ld out of range", c->id, map);
	r = send_cmd(slot, c);
	if (r.ret == 0) {
		map_addr[map] = r.addr;
		map_pages[map] = pages;
	}
}

static void end_scenario(void)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (!slots[i].alive)
			continue;
		struct cmd c = { .op = OP_QUIT };

		full_write(slots[i].cmd[1], &c, sizeof(c));
		wait_gone(i);
	}
	memset(map_addr, 0, sizeof(map_addr));
	memset(map_pages, 0, sizeof(map_pages));
}

static void run_step(char **s)
{
	struct cmd c = { 0 };
	const char *op;
	int slot;

	c.id = next_num(s);
	op = next_tok(s);
	slot = (int)next_num(s);
	if (!strcmp(op, "mmap")) {
		long map = next_num(s);

		c.op = OP_MMAP;
		c.map = map;
		c.pages = next_num(s);
		c.a = next_num(s);
		c.b = next_num(s);
		c.c = next_num(s);
		c.d = next_num(s);
		send_mapping(slot, &c, map, c.pages);
		return;
	}
	if (!strcmp(op, "mremap")) {
		long map = next_num(s), page = next_num(s), newmap, tomap, topage;

		c.op = OP_MREMAP;
		c.pages = next_num(s);
		newmap = next_num(s);
		c.a = next_num(s);
		c.b = next_num(s);
		tomap = next_num(s);
		topage = next_num(s);
		c.addr = range_addr(map, page, &c);
		if (tomap >= 0) {
			c.addr2 = range_addr(tomap, topage, &c);
			if (!c.addr2)
				c.addr = 0; /* the target's mmap failed: not run */
		}
		if (!c.addr) {
			dprintf(1, "@@R {\"id\":%ld,\"unmapped\":true}\n", c.id);
			return;
		}
		send_mapping(slot, &c, newmap, c.a);
		return;
	}
	if (!strcmp(op, "fallocate")) {
		long map = next_num(s);

		c.op = OP_FALLOCATE;
		c.map = map;
		c.a = next_num(s);
		c.b = next_num(s);
		c.c = next_num(s);
		c.addr = range_addr(map, 0, &c);
	} else if (!strcmp(op, "vmas")) {
		long map = next_num(s), page = next_num(s);

		c.op = OP_VMAS;
		c.pages = next_num(s);
		c.addr = range_addr(map, page, &c);
	} else if (!strcmp(op, "munmap") || !strcmp(op, "mprotect") || !strcmp(op, "madvise") ||
	    !strcmp(op, "write") || !strcmp(op, "read")) {
		long map = next_num(s), page = next_num(s);

		c.pages = next_num(s);
		c.addr = range_addr(map, page, &c);
		c.op = !strcmp(op, "munmap") ? OP_MUNMAP : !strcmp(op, "mprotect") ? OP_MPROTECT :
		       !strcmp(op, "madvise") ? OP_MADVISE : !strcmp(op, "write") ? OP_WRITE : OP_READ;
		if (c.op == OP_MPROTECT || c.op == OP_MADVISE)
			c.a = next_num(s);
		if (c.op == OP_WRITE)
			parse_pattern(s, &c.pat);
	} else if (!strcmp(op, "store32") || !strcmp(op, "load32")) {
		long map = next_num(s), off = next_num(s);

		c.op = op[0] == 's' ? OP_STORE32 : OP_LOAD32;
		c.addr = range_addr(map, 0, &c) + off;
		if (c.op == OP_STORE32)
			c.a = next_num(s);
	} else if (!strcmp(op, "fork")) {
		int child = (int)next_num(s);

		if (child < 0 || child >= MAX_SLOTS || slots[child].alive)
			die("step %ld: child slot %d is not free", c.id, child);
		c.op = OP_FORK;
		c.a = child;
		struct reply r = send_cmd(slot, &c);

		if (r.ret == 0) {
			slots[child].pid = (pid_t)r.pid;
			slots[child].alive = 1;
		}
		return;
	} else if (!strcmp(op, "exit")) {
		c.op = OP_EXIT;
	} else if (!strcmp(op, "open") || !strcmp(op, "close")) {
		c.op = op[0] == 'o' ? OP_OPEN : OP_CLOSE;
		c.a = next_num(s);
		if (c.a < 0 || c.a >= MAX_FILES)
			die("step %ld: file id %ld out of range", c.id, c.a);
		if (c.op == OP_OPEN)
			c.b = next_num(s);
	} else if (!strcmp(op, "ioctl")) {
		c.op = OP_IOCTL;
		c.a = next_num(s);
		c.b = next_num(s);
		if (c.a < 0 || c.a >= MAX_FILES)
			die("step %ld: file id %ld out of range", c.id, c.a);
		if (c.b != 7) {
			long map = next_num(s), page = next_num(s);

			c.pages = next_num(s);
			c.addr = range_addr(map, page, &c);
			if (c.b == 1)
				parse_pattern(s, &c.pat);
		}
	} else {
		die("step %ld: unknown op \"%s\"", c.id, op);
	}
	if (!c.addr && c.op != OP_FORK && c.op != OP_EXIT && c.op != OP_OPEN && c.op != OP_CLOSE &&
	    !(c.op == OP_IOCTL && c.b == 7)) {
		dprintf(1, "@@R {\"id\":%ld,\"unmapped\":true}\n", c.id);
		return;
	}
	send_cmd(slot, &c);
}

int main(int argc, char **argv)
{
	static char line[8192];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: hmmsim-runner PROGRAM\n");
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f)
		die("cannot open %s: %s", argv[1], strerror(errno));
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (pipe(slots[i].cmd) || pipe(slots[i].rep))
			die("pipe: %s", strerror(errno));
	}
	for (int i = 0; i < MAX_FILES; i++)
		file_fd[i] = -1;
	for (int i = 0; i < MAX_MAPS; i++)
		map_fd[i] = -1;
	signal(SIGCHLD, SIG_DFL);
	align_free_top();
	while (fgets(line, sizeof(line), f)) {
		char *s = NULL, *w = strtok_r(line, " \t\n", &s);

		if (!w || w[0] == '#')
			continue;
		if (!strcmp(w, "scenario")) {
			char *name = next_tok(&s), *thp = next_tok(&s);
			long huge = next_num(&s);
			char text[32];

			/* HMMSIM_RUNNER_HOST: testing on a host, whose settings are left alone. */
			if (!getenv("HMMSIM_RUNNER_HOST")) {
				write_file("/sys/kernel/mm/transparent_hugepage/enabled", thp);
				snprintf(text, sizeof(text), "%ld", huge);
				write_file("/proc/sys/vm/nr_hugepages", text);
				if (strcmp(thp, "never"))
					khugepaged_hold();
			}
			dprintf(1, "@@S %s\n", name);
		} else if (!strcmp(w, "process")) {
			start_agent((int)next_num(&s));
		} else if (!strcmp(w, "step")) {
			run_step(&s);
		} else if (!strcmp(w, "end")) {
			end_scenario();
			dprintf(1, "@@D\n");
		} else {
			die("program: unknown line \"%s\"", w);
		}
	}
	fclose(f);
	return 0;
}
