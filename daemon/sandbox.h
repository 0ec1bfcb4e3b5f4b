/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The daemon's last wall, raised once start-up is over (sockets bound,
 * policy loaded): no new privileges, Landlock where the kernel has it (no
 * writing, creating, removing or executing files by path), and a seccomp
 * allow-list that kills the whole process on any other system call. A bug
 * that gets code running in the daemon then cannot exec, ptrace, open network
 * sockets, mount, or load kernel modules, whatever its capabilities.
 */

/*
 * @socket_path: the socket the daemon bound itself and removes at exit, or
 * NULL. Returns 0, or a negative errno when a wall could not be raised;
 * it has logged why, and the caller does not log again.
 */
int sandbox_apply(const char *socket_path);
