/* The exit-code contract users script against (Terraform's). Only main()
 * returns these; the error class travels in messages and -json output. */
#ifndef AMLSEC_CMD_EXIT_CODES_H
#define AMLSEC_CMD_EXIT_CODES_H

enum exit_code {
    EXIT_OK = 0,      /* success; with -detailed-exitcode: no changes */
    EXIT_FAIL = 1,    /* any error: usage, config, state, remote */
    EXIT_CHANGES = 2, /* success with changes (plan) or drift found (drift) */
};

#endif
