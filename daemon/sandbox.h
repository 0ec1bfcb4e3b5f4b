/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The daemon's last wall, raised once start-up is over (sockets bound,
 * policy loaded): no new privileges, and a seccomp allow-list that kills the
 * whole process on any other system call. A bug that gets code running in the
 * daemon then cannot exec, ptrace, open network sockets, mount, or load
 * kernel modules, whatever its capabilities.
 */

/* Returns 0, or a negative errno when the filter could not be installed. */
int sandbox_apply(void);
