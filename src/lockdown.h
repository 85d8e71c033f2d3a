/*
 * lockdown.h
 *	  Locking down the sessions of peer logins (members of scor_peer).
 */
#ifndef SCOR_LOCKDOWN_H
#define SCOR_LOCKDOWN_H

extern bool scor_require_peer_lockdown;

extern void ScorLockdownInit(void);
extern bool scor_peer_session(void);
extern void scor_check_peer_lockdown(const char *entry_point);

#endif							/* SCOR_LOCKDOWN_H */
