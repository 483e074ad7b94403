/*
 * chat.c - `penny chat`: interactive multi-turn chat in the terminal
 * (being written; see issue 6).
 */
#include <stdio.h>

#include "cli.h"

int cmd_chat(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "penny chat: not available yet\n");
    return 2;
}
