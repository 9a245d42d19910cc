#include "cli.h"

int main(int argc, char **argv) { return ilr_cli_main(argc, argv); }
