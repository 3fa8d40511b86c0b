/* faultvfs: see faultvfs.h for the model, the design and the settings. */

#define _GNU_SOURCE
#include "faultvfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* ------------------------------------------------------------------ settings */

enum { TARGET_DB = 1, TARGET_WAL = 2, TARGET_JOURNAL = 4, TARGET_ALL = 7 };

typedef struct Settings
{
    int writeFault;            /* 0, SQLITE_FULL or SQLITE_IOERR_WRITE */
    long long writeFaultAfter; /* writes allowed before writeFault starts */
    int readFault;             /* 0 or SQLITE_IOERR_READ */
    int syncFault;             /* 0 or SQLITE_IOERR_FSYNC */
    long long syncDelayMs;
    int target; /* TARGET_* bits */
} Settings;

static const Settings kNoFaults = {0, 0, 0, 0, 0, TARGET_ALL};

static sqlite3_vfs *g_real; /* the "unix" VFS */
static int g_journal;       /* FAULTVFS_POWERLOSS: journal for power loss */
static char *g_controlPath; /* FAULTVFS_CONTROL */
static char *g_statsPath;   /* FAULTVFS_STATS */

/* g_settingsMutex guards everything in this block. */
static pthread_mutex_t g_settingsMutex = PTHREAD_MUTEX_INITIALIZER;
static Settings g_env;            /* from the environment */
static Settings g_settings;       /* in force */
static int g_override;            /* faultvfs_configure() set g_settings */
static struct stat g_controlStat; /* of the control file when last read */
static int g_controlPresent;
static struct timespec g_lastCheck;
static long long g_writesSinceLoad; /* target writes that passed since the settings were loaded */

static atomic_llong st_opens, st_writes, st_syncs, st_undoRecords, st_injectedFull, st_injectedWrite,
    st_injectedRead, st_injectedSync, st_delayedSyncs, st_reloads;

static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("faultvfs: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A fault setting: "none" or "" -> 0, "ioerr" -> `ioerr`, "full" -> SQLITE_FULL where `full` allows it.
 * 0, or -1 when the value is not understood. */
static int parseFault(const char *value, int ioerr, int full, int *out)
{
    if (strcmp(value, "none") == 0 || *value == '\0')
        *out = 0;
    else if (strcmp(value, "ioerr") == 0)
        *out = ioerr;
    else if (full && strcmp(value, "full") == 0)
        *out = SQLITE_FULL;
    else
        return -1;
    return 0;
}

/* A count or a delay: a non-negative decimal integer. 0, or -1 when it is not one. */
static int parseCount(const char *value, long long *out)
{
    char *end = NULL;
    errno = 0;
    const long long n = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || n < 0)
        return -1;
    *out = n;
    return 0;
}

/* Applies one "key=value" to `s`; 0, or -1 when the key or the value is not understood. */
static int applySetting(Settings *s, const char *key, const char *value)
{
    if (strcmp(key, "write_fault") == 0) {
        return parseFault(value, SQLITE_IOERR_WRITE, 1, &s->writeFault);
    } else if (strcmp(key, "read_fault") == 0) {
        return parseFault(value, SQLITE_IOERR_READ, 0, &s->readFault);
    } else if (strcmp(key, "sync_fault") == 0) {
        return parseFault(value, SQLITE_IOERR_FSYNC, 0, &s->syncFault);
    } else if (strcmp(key, "write_fault_after") == 0) {
        return parseCount(value, &s->writeFaultAfter);
    } else if (strcmp(key, "sync_delay_ms") == 0) {
        return parseCount(value, &s->syncDelayMs);
    } else if (strcmp(key, "target") == 0) {
        int bits = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", value);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (strcmp(tok, "all") == 0)
                bits |= TARGET_ALL;
            else if (strcmp(tok, "db") == 0)
                bits |= TARGET_DB;
            else if (strcmp(tok, "wal") == 0)
                bits |= TARGET_WAL;
            else if (strcmp(tok, "journal") == 0)
                bits |= TARGET_JOURNAL;
            else
                return -1;
        }
        if (bits == 0)
            return -1;
        s->target = bits;
    } else {
        return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        ++s;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Parses "key=value" lines (blank lines and '#' comments skipped) over `s`. */
static int parseSettings(Settings *s, const char *text, const char *origin)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return -1;
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            warn("%s: not key=value: %s", origin, l);
            rc = -1;
            continue;
        }
        *eq = '\0';
        const char *key = trim(l);
        const char *value = trim(eq + 1);
        if (applySetting(s, key, value) != 0) {
            warn("%s: bad setting %s=%s", origin, key, value);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static void readEnvironment(Settings *s)
{
    static const char *const keys[] = {"write_fault", "write_fault_after", "read_fault",
                                       "sync_fault",  "sync_delay_ms",     "target"};
    *s = kNoFaults;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; ++i) {
        char name[64] = "FAULTVFS_";
        size_t n = strlen(name);
        for (const char *k = keys[i]; *k && n + 1 < sizeof name; ++k)
            name[n++] = (char)toupper((unsigned char)*k);
        name[n] = '\0';
        const char *value = getenv(name);
        if (value && applySetting(s, keys[i], value) != 0)
            warn("bad %s=%s", name, value);
    }
}

static void writeStats(void)
{
    if (!g_statsPath)
        return;
    faultvfs_stats st;
    faultvfs_get_stats(&st);
    char tmp[PATH_MAX + 32];
    static atomic_int counter;
    snprintf(tmp, sizeof tmp, "%s.%d.%d.tmp", g_statsPath, (int)getpid(), atomic_fetch_add(&counter, 1));
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    fprintf(
        f,
        "opens=%lld\nwrites=%lld\nsyncs=%lld\nundo_records=%lld\ninjected_full=%lld\ninjected_write=%lld\n"
        "injected_read=%lld\ninjected_sync=%lld\ndelayed_syncs=%lld\nreloads=%lld\n",
        st.opens, st.writes, st.syncs, st.undo_records, st.injected_full, st.injected_write, st.injected_read,
        st.injected_sync, st.delayed_syncs, st.reloads);
    if (fclose(f) == 0)
        rename(tmp, g_statsPath);
    else
        unlink(tmp);
}

static char *readWholeFile(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* With g_settingsMutex held: loads the control file when it changed (looked at every 5 ms at most). */
static void maybeReloadLocked(void)
{
    if (!g_controlPath || g_override)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const long long ms = (now.tv_sec - g_lastCheck.tv_sec) * 1000LL
                         + (now.tv_nsec - g_lastCheck.tv_nsec) / 1000000LL;
    if (ms < 5 && (g_lastCheck.tv_sec != 0 || g_lastCheck.tv_nsec != 0))
        return;
    g_lastCheck = now;
    struct stat st;
    const int present = stat(g_controlPath, &st) == 0;
    if (present == g_controlPresent
        && (!present
            || (st.st_ino == g_controlStat.st_ino && st.st_dev == g_controlStat.st_dev
                && st.st_size == g_controlStat.st_size && st.st_mtim.tv_sec == g_controlStat.st_mtim.tv_sec
                && st.st_mtim.tv_nsec == g_controlStat.st_mtim.tv_nsec)))
        return;
    g_controlPresent = present;
    if (present)
        g_controlStat = st;
    Settings s = g_env;
    if (present) {
        char *text = readWholeFile(g_controlPath);
        if (text) {
            parseSettings(&s, text, g_controlPath);
            free(text);
        }
    }
    g_settings = s;
    g_writesSinceLoad = 0;
    atomic_fetch_add(&st_reloads, 1);
    writeStats();
}

static Settings currentSettings(void)
{
    pthread_mutex_lock(&g_settingsMutex);
    maybeReloadLocked();
    Settings s = g_settings;
    pthread_mutex_unlock(&g_settingsMutex);
    return s;
}

/* The fault for a write to a file of `type` (TARGET_*), or 0; counts the write toward
 * write_fault_after when it passes. */
static int writeFaultFor(int type)
{
    int rc = 0;
    pthread_mutex_lock(&g_settingsMutex);
    maybeReloadLocked();
    if (g_settings.writeFault && (g_settings.target & type)) {
        if (g_writesSinceLoad >= g_settings.writeFaultAfter)
            rc = g_settings.writeFault;
        else
            ++g_writesSinceLoad;
    }
    pthread_mutex_unlock(&g_settingsMutex);
    return rc;
}

/* ------------------------------------------------------------------ the undo journal */

#define HEADER_MAGIC "FVUNDO01"
#define RECORD_MAGIC 0x46565231u /* "FVR1" */
#define RECORD_END 0x46565245u   /* "FVRE" */
#define CHECK_MUL 0x9E3779B97F4A7C15ull

typedef struct Header
{
    char magic[8];
    uint64_t gen;
    uint64_t syncedSize;
    uint64_t check;
} Header; /* 32 bytes, written with one pwrite at offset 0 */

typedef struct RecordHead
{
    uint32_t magic;
    uint32_t len;
    uint64_t gen;
    uint64_t offset;
    uint64_t check;
} RecordHead; /* followed by len bytes of pre-image and a RecordTail */

typedef struct RecordTail
{
    uint32_t magic;
    uint32_t len;
} RecordTail;

static uint64_t headerCheck(const Header *h)
{
    return (h->gen * CHECK_MUL) ^ h->syncedSize ^ 0x5AFEC0DEull;
}

static uint64_t recordCheck(const RecordHead *r)
{
    return (r->gen * CHECK_MUL) ^ (r->offset * 31u) ^ r->len ^ 0xC0FFEEull;
}

static int writeAll(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int readAll(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int readHeader(int fd, Header *h)
{
    if (readAll(fd, h, sizeof *h, 0) != 0)
        return -1;
    if (memcmp(h->magic, HEADER_MAGIC, 8) != 0 || h->check != headerCheck(h))
        return -1;
    return 0;
}

static int writeHeader(int fd, uint64_t gen, uint64_t syncedSize)
{
    Header h;
    memcpy(h.magic, HEADER_MAGIC, 8);
    h.gen = gen;
    h.syncedSize = syncedSize;
    h.check = headerCheck(&h);
    return writeAll(fd, &h, sizeof h, 0);
}

/* One structurally complete record of a journal. */
typedef struct Record
{
    uint64_t gen;
    uint64_t offset;
    uint32_t len;
    off_t dataAt; /* where its pre-image starts in the journal */
} Record;

/* Reads the records of a journal (complete ones only, stopping at the first that is not);
 * *records is malloc'd; *end is the offset after the last complete record. */
static int scanRecords(int fd, Record **records, size_t *count, off_t *end)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    size_t cap = 64, n = 0;
    Record *out = malloc(cap * sizeof *out);
    if (!out)
        return -1;
    off_t pos = (off_t)sizeof(Header);
    while (pos + (off_t)sizeof(RecordHead) <= st.st_size) {
        RecordHead head;
        if (readAll(fd, &head, sizeof head, pos) != 0 || head.magic != RECORD_MAGIC
            || head.check != recordCheck(&head))
            break;
        const off_t tailAt = pos + (off_t)sizeof head + (off_t)head.len;
        RecordTail tail;
        if (tailAt + (off_t)sizeof tail > st.st_size || readAll(fd, &tail, sizeof tail, tailAt) != 0
            || tail.magic != RECORD_END || tail.len != head.len)
            break;
        if (n == cap) {
            Record *bigger = realloc(out, cap * 2 * sizeof *out);
            if (!bigger) {
                free(out);
                return -1;
            }
            out = bigger;
            cap *= 2;
        }
        out[n++] = (Record){head.gen, head.offset, head.len, pos + (off_t)sizeof head};
        pos = tailAt + (off_t)sizeof tail;
    }
    *records = out;
    *count = n;
    *end = pos;
    return 0;
}

/* A journaled file (main database, WAL or rollback journal), shared by every handle this
 * process has open on its path. `mutex` orders the journal's records with the file's writes. */
typedef struct Entry
{
    struct Entry *next;
    char *path;
    int refs;     /* under g_registryMutex */
    int detached; /* deleted from disk: no longer in the registry (under g_registryMutex) */
    pthread_mutex_t mutex;
    int logFd; /* the rest under `mutex` */
    uint64_t gen;
    off_t logEnd;
    int broken; /* the journal could not be written: writes fail rather than go unjournaled */
} Entry;

static pthread_mutex_t g_registryMutex = PTHREAD_MUTEX_INITIALIZER;
static Entry *g_entries;

static char *journalPath(const char *path)
{
    const size_t n = strlen(path);
    char *p = malloc(n + sizeof ".unsynced");
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, ".unsynced", sizeof ".unsynced");
    }
    return p;
}

/* Starts a new generation: the file's content now counts as synced. With e->mutex held. */
static int resetJournal(Entry *e, uint64_t syncedSize)
{
    if (writeHeader(e->logFd, e->gen + 1, syncedSize) != 0)
        return -1;
    ++e->gen; /* records of the old generation are dead from here on */
    if (ftruncate(e->logFd, (off_t)sizeof(Header)) != 0)
        return -1;
    e->logEnd = (off_t)sizeof(Header);
    return 0;
}

/* Appends the pre-image `data` of [offset, offset+len). With e->mutex held. */
static int appendRecord(Entry *e, uint64_t offset, const void *data, uint32_t len)
{
    const size_t total = sizeof(RecordHead) + len + sizeof(RecordTail);
    char *buf = malloc(total);
    if (!buf)
        return -1;
    RecordHead head = {RECORD_MAGIC, len, e->gen, offset, 0};
    head.check = recordCheck(&head);
    RecordTail tail = {RECORD_END, len};
    memcpy(buf, &head, sizeof head);
    memcpy(buf + sizeof head, data, len);
    memcpy(buf + sizeof head + len, &tail, sizeof tail);
    const int rc = writeAll(e->logFd, buf, total, e->logEnd);
    free(buf);
    if (rc != 0)
        return -1;
    e->logEnd += (off_t)total;
    atomic_fetch_add(&st_undoRecords, 1);
    return 0;
}

/* The entry of `path`, created (journal adopted or started) when new; NULL on failure. */
static Entry *acquireEntry(const char *path, sqlite3_int64 currentSize)
{
    pthread_mutex_lock(&g_registryMutex);
    Entry *e = g_entries;
    while (e && strcmp(e->path, path) != 0)
        e = e->next;
    if (e) {
        ++e->refs;
        pthread_mutex_unlock(&g_registryMutex);
        return e;
    }
    e = calloc(1, sizeof *e);
    char *log = journalPath(path);
    if (!e || !log || !(e->path = strdup(path))) {
        free(log);
        if (e)
            free(e->path);
        free(e);
        pthread_mutex_unlock(&g_registryMutex);
        return NULL;
    }
    pthread_mutex_init(&e->mutex, NULL);
    e->logFd = open(log, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int ok = e->logFd >= 0;
    Header h;
    if (ok && readHeader(e->logFd, &h) == 0) {
        /* Left by a process that was killed: its unsynced writes are still unsynced. */
        Record *records = NULL;
        size_t count = 0;
        off_t end = 0;
        ok = scanRecords(e->logFd, &records, &count, &end) == 0 && ftruncate(e->logFd, end) == 0;
        free(records);
        e->gen = h.gen;
        e->logEnd = end;
    } else if (ok) {
        e->gen = 0;
        ok = resetJournal(e, (uint64_t)currentSize) == 0;
    }
    if (!ok) {
        warn("cannot journal %s: %s", log, strerror(errno));
        if (e->logFd >= 0)
            close(e->logFd);
        pthread_mutex_destroy(&e->mutex);
        free(e->path);
        free(e);
        free(log);
        pthread_mutex_unlock(&g_registryMutex);
        return NULL;
    }
    free(log);
    e->refs = 1;
    e->next = g_entries;
    g_entries = e;
    pthread_mutex_unlock(&g_registryMutex);
    return e;
}

static void unlinkEntryLocked(Entry *e)
{
    for (Entry **p = &g_entries; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    e->detached = 1;
}

static void releaseEntry(Entry *e)
{
    pthread_mutex_lock(&g_registryMutex);
    if (--e->refs == 0) {
        /* The journal stays on disk: what is unsynced stays unsynced after a close. */
        if (!e->detached)
            unlinkEntryLocked(e);
        close(e->logFd);
        pthread_mutex_destroy(&e->mutex);
        free(e->path);
        free(e);
    }
    pthread_mutex_unlock(&g_registryMutex);
}

/* ------------------------------------------------------------------ the file */

typedef struct FaultFile
{
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file, allocated right after this struct */
    Entry *entry;       /* NULL: not journaled */
    int type;           /* TARGET_* bit, 0 for files faults never hit */
} FaultFile;

#define REAL(f) (((FaultFile *)(f))->real)

static int fvClose(sqlite3_file *f)
{
    FaultFile *p = (FaultFile *)f;
    const int rc = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
    if (p->entry) {
        releaseEntry(p->entry);
        p->entry = NULL;
    }
    if (p->type)
        writeStats();
    return rc;
}

static int fvRead(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    FaultFile *p = (FaultFile *)f;
    if (p->type) {
        const Settings s = currentSettings();
        if (s.readFault && (s.target & p->type)) {
            atomic_fetch_add(&st_injectedRead, 1);
            writeStats();
            return s.readFault;
        }
    }
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}

/* Journals the bytes of [off, off+len) that exist now, in pieces of at most 1 MiB. With
 * e->mutex held. */
static int journalRange(FaultFile *p, sqlite3_int64 off, sqlite3_int64 len)
{
    sqlite3_int64 size = 0;
    int rc = p->real->pMethods->xFileSize(p->real, &size);
    if (rc != SQLITE_OK)
        return rc;
    if (off >= size)
        return SQLITE_OK; /* past the end: nothing to restore, the final truncation drops it */
    if (off + len > size)
        len = size - off;
    const sqlite3_int64 piece = 1 << 20;
    char *buf = malloc((size_t)(len < piece ? len : piece));
    if (!buf)
        return SQLITE_IOERR_NOMEM;
    for (sqlite3_int64 done = 0; done < len && rc == SQLITE_OK; done += piece) {
        const int n = (int)(len - done < piece ? len - done : piece);
        rc = p->real->pMethods->xRead(p->real, buf, n, off + done);
        if (rc == SQLITE_OK && appendRecord(p->entry, (uint64_t)(off + done), buf, (uint32_t)n) != 0)
            rc = SQLITE_IOERR_WRITE;
    }
    free(buf);
    return rc;
}

static int fvWrite(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    FaultFile *p = (FaultFile *)f;
    if (p->type) {
        const int fault = writeFaultFor(p->type);
        if (fault) {
            atomic_fetch_add(fault == SQLITE_FULL ? &st_injectedFull : &st_injectedWrite, 1);
            writeStats();
            return fault;
        }
        atomic_fetch_add(&st_writes, 1);
    }
    if (!p->entry)
        return p->real->pMethods->xWrite(p->real, buf, amt, off);
    Entry *e = p->entry;
    pthread_mutex_lock(&e->mutex);
    int rc = e->broken ? SQLITE_IOERR_WRITE : journalRange(p, off, amt);
    if (rc != SQLITE_OK) {
        e->broken = 1;
        warn("cannot journal a write to %s: the write fails", e->path);
    } else {
        rc = p->real->pMethods->xWrite(p->real, buf, amt, off);
    }
    pthread_mutex_unlock(&e->mutex);
    return rc;
}

static int fvTruncate(sqlite3_file *f, sqlite3_int64 size)
{
    FaultFile *p = (FaultFile *)f;
    if (!p->entry)
        return p->real->pMethods->xTruncate(p->real, size);
    Entry *e = p->entry;
    pthread_mutex_lock(&e->mutex);
    int rc = e->broken ? SQLITE_IOERR_TRUNCATE : journalRange(p, size, LLONG_MAX / 2);
    if (rc != SQLITE_OK) {
        e->broken = 1;
        warn("cannot journal a truncation of %s: it fails", e->path);
        rc = SQLITE_IOERR_TRUNCATE;
    } else {
        rc = p->real->pMethods->xTruncate(p->real, size);
    }
    pthread_mutex_unlock(&e->mutex);
    return rc;
}

static int fvSync(sqlite3_file *f, int flags)
{
    FaultFile *p = (FaultFile *)f;
    if (p->type) {
        const Settings s = currentSettings();
        if (s.target & p->type) {
            if (s.syncDelayMs > 0) {
                atomic_fetch_add(&st_delayedSyncs, 1);
                struct timespec d = {(time_t)(s.syncDelayMs / 1000), (long)(s.syncDelayMs % 1000) * 1000000L};
                while (nanosleep(&d, &d) != 0 && errno == EINTR) {}
                writeStats();
            }
            if (s.syncFault) {
                atomic_fetch_add(&st_injectedSync, 1);
                writeStats();
                return s.syncFault;
            }
        }
    }
    if (!p->entry) {
        const int rc = p->real->pMethods->xSync(p->real, flags);
        if (rc == SQLITE_OK && p->type)
            atomic_fetch_add(&st_syncs, 1);
        return rc;
    }
    Entry *e = p->entry;
    pthread_mutex_lock(&e->mutex);
    int rc = p->real->pMethods->xSync(p->real, flags);
    if (rc == SQLITE_OK) {
        if (atomic_fetch_add(&st_syncs, 1) % 64 == 0)
            writeStats();
        sqlite3_int64 size = 0;
        rc = p->real->pMethods->xFileSize(p->real, &size);
        if (rc == SQLITE_OK && !e->broken && resetJournal(e, (uint64_t)size) != 0) {
            e->broken = 1;
            warn("cannot reset the journal of %s", e->path);
        }
    }
    pthread_mutex_unlock(&e->mutex);
    return rc;
}

static int fvFileSize(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int fvLock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xLock(REAL(f), lock);
}
static int fvUnlock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}
static int fvCheckReservedLock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int fvFileControl(sqlite3_file *f, int op, void *arg)
{
    if (op == SQLITE_FCNTL_VFSNAME) {
        /* Report both names, as SQLite's own shims do. */
        char *below = NULL;
        REAL(f)->pMethods->xFileControl(REAL(f), op, &below);
        *(char **)arg = below ? sqlite3_mprintf("faultvfs/%z", below) : sqlite3_mprintf("faultvfs");
        return SQLITE_OK;
    }
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int fvSectorSize(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fvDeviceCharacteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fvShmMap(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}
static int fvShmLock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void fvShmBarrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fvShmUnmap(sqlite3_file *f, int deleteFlag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), deleteFlag);
}
static int fvFetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, out);
}
static int fvUnfetch(sqlite3_file *f, sqlite3_int64 off, void *ptr)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, ptr);
}

#define FV_METHODS(version)                                                                                  \
    {                                                                                                        \
        version, fvClose, fvRead, fvWrite, fvTruncate, fvSync, fvFileSize, fvLock, fvUnlock,                 \
            fvCheckReservedLock, fvFileControl, fvSectorSize, fvDeviceCharacteristics, fvShmMap, fvShmLock,  \
            fvShmBarrier, fvShmUnmap, fvFetch, fvUnfetch                                                     \
    }
/* The version the unix file reports, so that SQLite sees the same capabilities (WAL needs 2). */
static const sqlite3_io_methods kMethods[4] = {FV_METHODS(0), FV_METHODS(1), FV_METHODS(2), FV_METHODS(3)};

/* ------------------------------------------------------------------ the VFS */

static int fvOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *outFlags)
{
    (void)vfs;
    FaultFile *p = (FaultFile *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = g_real->xOpen(g_real, name, p->real, flags, outFlags);
    if (!p->real->pMethods) {
        p->base.pMethods = NULL;
        return rc;
    }
    const int version = p->real->pMethods->iVersion;
    p->base.pMethods = &kMethods[version < 0 ? 0 : version > 3 ? 3 : version];
    if (rc != SQLITE_OK || !name)
        return rc;
    if (flags & SQLITE_OPEN_MAIN_DB)
        p->type = TARGET_DB;
    else if (flags & SQLITE_OPEN_WAL)
        p->type = TARGET_WAL;
    else if (flags & SQLITE_OPEN_MAIN_JOURNAL)
        p->type = TARGET_JOURNAL;
    if (!p->type)
        return rc;
    atomic_fetch_add(&st_opens, 1);
    if (g_journal) {
        sqlite3_int64 size = 0;
        rc = p->real->pMethods->xFileSize(p->real, &size);
        if (rc == SQLITE_OK && !(p->entry = acquireEntry(name, size)))
            rc = SQLITE_CANTOPEN;
        if (rc != SQLITE_OK) {
            p->real->pMethods->xClose(p->real);
            p->base.pMethods = NULL;
            return rc;
        }
    }
    writeStats();
    return rc;
}

static int fvDelete(sqlite3_vfs *vfs, const char *name, int syncDir)
{
    (void)vfs;
    const int rc = g_real->xDelete(g_real, name, syncDir);
    if (rc == SQLITE_OK && g_journal) {
        pthread_mutex_lock(&g_registryMutex);
        for (Entry *e = g_entries; e; e = e->next) {
            if (strcmp(e->path, name) == 0) {
                unlinkEntryLocked(e); /* a file created later at this path starts afresh */
                break;
            }
        }
        char *log = journalPath(name);
        if (log)
            unlink(log);
        free(log);
        pthread_mutex_unlock(&g_registryMutex);
    }
    return rc;
}

static int fvAccess(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return g_real->xAccess(g_real, name, flags, out);
}
static int fvFullPathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return g_real->xFullPathname(g_real, name, n, out);
}
static void *fvDlOpen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g_real->xDlOpen(g_real, name);
}
static void fvDlError(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    g_real->xDlError(g_real, n, out);
}
static void (*fvDlSym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
    (void)vfs;
    return g_real->xDlSym(g_real, handle, symbol);
}
static void fvDlClose(sqlite3_vfs *vfs, void *handle)
{
    (void)vfs;
    g_real->xDlClose(g_real, handle);
}
static int fvRandomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g_real->xRandomness(g_real, n, out);
}
static int fvSleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return g_real->xSleep(g_real, us);
}
static int fvCurrentTime(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return g_real->xCurrentTime(g_real, out);
}
static int fvGetLastError(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g_real->xGetLastError(g_real, n, out);
}
static int fvCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return g_real->xCurrentTimeInt64(g_real, out);
}
static int fvSetSystemCall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn)
{
    (void)vfs;
    return g_real->xSetSystemCall(g_real, name, fn);
}
static sqlite3_syscall_ptr fvGetSystemCall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g_real->xGetSystemCall(g_real, name);
}
static const char *fvNextSystemCall(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g_real->xNextSystemCall(g_real, name);
}

static sqlite3_vfs g_vfs = {
    3,
    0,
    0,
    NULL,
    "faultvfs",
    NULL,
    fvOpen,
    fvDelete,
    fvAccess,
    fvFullPathname,
    fvDlOpen,
    fvDlError,
    fvDlSym,
    fvDlClose,
    fvRandomness,
    fvSleep,
    fvCurrentTime,
    fvGetLastError,
    fvCurrentTimeInt64,
    fvSetSystemCall,
    fvGetSystemCall,
    fvNextSystemCall,
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_installRc = SQLITE_ERROR;

static char *envCopy(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

static void install(void)
{
    int rc = sqlite3_initialize();
    if (rc != SQLITE_OK) {
        g_installRc = rc;
        return;
    }
    g_real = sqlite3_vfs_find("unix");
    if (!g_real || g_real->iVersion < 3) {
        warn("no \"unix\" VFS of version 3");
        g_installRc = SQLITE_ERROR;
        return;
    }
    const char *pl = getenv("FAULTVFS_POWERLOSS");
    g_journal = pl && *pl && strcmp(pl, "0") != 0;
    g_controlPath = envCopy("FAULTVFS_CONTROL");
    g_statsPath = envCopy("FAULTVFS_STATS");
    readEnvironment(&g_env);
    g_settings = g_env;
    g_vfs.szOsFile = (int)sizeof(FaultFile) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_installRc = sqlite3_vfs_register(&g_vfs, 1);
    if (g_installRc == SQLITE_OK) {
        pthread_mutex_lock(&g_settingsMutex);
        maybeReloadLocked();
        pthread_mutex_unlock(&g_settingsMutex);
        writeStats();
    }
}

int faultvfs_install(void)
{
    pthread_once(&g_once, install);
    return g_installRc;
}

__attribute__((constructor)) static void faultvfsConstructor(void)
{
    if (faultvfs_install() != SQLITE_OK)
        warn("could not register the VFS (SQLite error %d)", g_installRc);
}

__attribute__((destructor)) static void faultvfsDestructor(void)
{
    writeStats();
}

/* ------------------------------------------------------------------ control API */

int faultvfs_configure(const char *settings)
{
    faultvfs_install();
    pthread_mutex_lock(&g_settingsMutex);
    int rc = 0;
    if (!settings || !*settings) {
        g_override = 0;
        g_settings = g_env;
        memset(&g_controlStat, 0, sizeof g_controlStat);
        g_controlPresent = 0;
        g_lastCheck.tv_sec = 0;
        g_lastCheck.tv_nsec = 0;
        maybeReloadLocked();
    } else {
        Settings s = g_env;
        rc = parseSettings(&s, settings, "faultvfs_configure");
        if (rc == 0) {
            g_override = 1;
            g_settings = s;
        }
    }
    g_writesSinceLoad = 0;
    pthread_mutex_unlock(&g_settingsMutex);
    return rc;
}

void faultvfs_set_power_loss_journal(int on)
{
    faultvfs_install();
    g_journal = on;
}

void faultvfs_get_stats(faultvfs_stats *out)
{
    out->opens = atomic_load(&st_opens);
    out->writes = atomic_load(&st_writes);
    out->syncs = atomic_load(&st_syncs);
    out->undo_records = atomic_load(&st_undoRecords);
    out->injected_full = atomic_load(&st_injectedFull);
    out->injected_write = atomic_load(&st_injectedWrite);
    out->injected_read = atomic_load(&st_injectedRead);
    out->injected_sync = atomic_load(&st_injectedSync);
    out->delayed_syncs = atomic_load(&st_delayedSyncs);
    out->reloads = atomic_load(&st_reloads);
}

/* ------------------------------------------------------------------ power loss */

static void setError(char *error, size_t size, const char *fmt, ...)
{
    if (!error || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, size, fmt, ap);
    va_end(ap);
}

/* Rolls `path` back to its last sync from "<path>.unsynced" and removes the journal: 1 when
 * rolled back, 0 when there was no journal, -1 on failure. */
static int rollBack(const char *path, faultvfs_power_loss_report *report, char *error, size_t errorSize)
{
    char *log = journalPath(path);
    if (!log) {
        setError(error, errorSize, "out of memory");
        return -1;
    }
    const int logFd = open(log, O_RDONLY | O_CLOEXEC);
    if (logFd < 0) {
        const int missing = errno == ENOENT;
        if (!missing)
            setError(error, errorSize, "%s: %s", log, strerror(errno));
        free(log);
        return missing ? 0 : -1;
    }
    int result = -1;
    Record *records = NULL;
    size_t count = 0;
    off_t end = 0;
    char *buf = NULL;
    int fd = -1;
    Header h;
    if (readHeader(logFd, &h) != 0) {
        /* Created, header not yet written: the process died in its first open. */
        struct stat st;
        if (fstat(logFd, &st) == 0 && st.st_size < (off_t)sizeof h) {
            result = 0;
            unlink(log);
        } else {
            setError(error, errorSize, "%s: not a faultvfs journal", log);
        }
        goto out;
    }
    if (scanRecords(logFd, &records, &count, &end) != 0) {
        setError(error, errorSize, "%s: unreadable: %s", log, strerror(errno));
        goto out;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) { /* deleted after its last write: nothing to restore */
            result = 0;
            unlink(log);
        } else {
            setError(error, errorSize, "%s: %s", path, strerror(errno));
        }
        goto out;
    }
    for (size_t i = count; i-- > 0;) {
        const Record *r = &records[i];
        if (r->gen != h.gen)
            continue; /* dead: its file was synced after it */
        char *grown = realloc(buf, r->len ? r->len : 1);
        if (!grown) {
            setError(error, errorSize, "out of memory");
            goto out;
        }
        buf = grown;
        if (readAll(logFd, buf, r->len, r->dataAt) != 0 || writeAll(fd, buf, r->len, (off_t)r->offset) != 0) {
            setError(error, errorSize, "%s: cannot restore %u bytes at %llu: %s", path, r->len,
                     (unsigned long long)r->offset, strerror(errno));
            goto out;
        }
        ++report->records_undone;
        report->bytes_restored += r->len;
    }
    struct stat grown;
    if (fstat(fd, &grown) == 0 && grown.st_size > (off_t)h.syncedSize)
        report->bytes_truncated += grown.st_size - (off_t)h.syncedSize;
    if (ftruncate(fd, (off_t)h.syncedSize) != 0) {
        setError(error, errorSize, "%s: cannot truncate to %llu: %s", path, (unsigned long long)h.syncedSize,
                 strerror(errno));
        goto out;
    }
    if (fsync(fd) != 0) {
        setError(error, errorSize, "%s: fsync: %s", path, strerror(errno));
        goto out;
    }
    unlink(log);
    ++report->files;
    result = 1;
out:
    if (fd >= 0)
        close(fd);
    close(logFd);
    free(buf);
    free(records);
    free(log);
    return result;
}

int faultvfs_power_loss(const char *db_path, faultvfs_power_loss_report *report, char *error,
                        size_t error_size)
{
    faultvfs_power_loss_report ignored;
    if (!report)
        report = &ignored;
    memset(report, 0, sizeof *report);
    if (error && error_size)
        error[0] = '\0';
    /* SQLite names the WAL and the journal after the database's full path (xFullPathname:
     * absolute, symbolic links resolved), and so does the journal of each. */
    char full[PATH_MAX];
    if (!realpath(db_path, full)) {
        if (errno != ENOENT) {
            setError(error, error_size, "%s: %s", db_path, strerror(errno));
            return -1;
        }
        snprintf(full, sizeof full, "%s", db_path);
    }
    static const char *const suffixes[] = {"", "-wal", "-journal"};
    int rolledBack = 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; ++i) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%s", full, suffixes[i]);
        const int r = rollBack(path, report, error, error_size);
        if (r < 0)
            return -1;
        rolledBack += r;
    }
    char shm[PATH_MAX + 16];
    snprintf(shm, sizeof shm, "%s-shm", full);
    if (unlink(shm) != 0 && errno != ENOENT) {
        setError(error, error_size, "%s: %s", shm, strerror(errno));
        return -1;
    }
    return rolledBack;
}
