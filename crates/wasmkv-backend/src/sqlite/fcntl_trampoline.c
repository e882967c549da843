/* SQLite calls fcntl through its system-call table as the variadic
 * int (*)(int, int, ...), which a Rust function cannot be. This is that
 * function: it takes the one argument every command SQLite issues passes (an
 * int or a pointer), read as glibc's own fcntl reads it, and hands it to
 * read_marks.rs. */
#include <stdarg.h>

int wasmkv_sqlite_fcntl_fixed(int fd, int cmd, void *arg);

int wasmkv_sqlite_fcntl(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void *arg = va_arg(args, void *);
    va_end(args);
    return wasmkv_sqlite_fcntl_fixed(fd, cmd, arg);
}
