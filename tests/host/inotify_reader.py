"""Run on a host as an unprivileged user: watch directories (and the ones created under them) with
inotify, try to read every file written, created, moved in or re-permissioned there, and print
the path of each one that held the token. A file this user could read at any moment is printed.

    python3 inotify_reader.py TOKEN OUTPUT DIR...      (stops on SIGTERM)

inotify(7): a watch needs read permission on the directory, events name the file.
"""

import ctypes
import os
import signal
import struct
import sys

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x4, 0x8, 0x80, 0x100
IN_ISDIR = 0x40000000
EVENTS = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
HEADER = struct.Struct("iIII")


def main(token: bytes, output: str, roots: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init()
    watches: dict[int, str] = {}

    def watch(directory: str) -> None:
        number = libc.inotify_add_watch(fd, directory.encode(), EVENTS)
        if number >= 0:                    # a directory this user may not read is not watched
            watches[number] = directory

    for root in roots:
        watch(root)
    found: set[str] = set()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(output, "a", buffering=1) as report:
        print("watching", file=report)
        while True:
            buffer = os.read(fd, 65536)
            offset = 0
            while offset < len(buffer):
                number, mask, _, length = HEADER.unpack_from(buffer, offset)
                name = buffer[offset + HEADER.size:offset + HEADER.size + length].rstrip(b"\0").decode()
                offset += HEADER.size + length
                path = os.path.join(watches.get(number, "?"), name)
                if mask & IN_ISDIR:
                    if mask & IN_CREATE:
                        watch(path)
                    continue
                try:
                    with open(path, "rb") as readable:
                        held = token in readable.read()
                except OSError:
                    continue
                if held and path not in found:
                    found.add(path)
                    print(path, file=report)


if __name__ == "__main__":
    main(sys.argv[1].encode(), sys.argv[2], sys.argv[3:])
