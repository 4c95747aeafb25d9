/* The `ddpc` command (placeholder until the CLI lands). */
#include <stdio.h>
int main(void) { puts("ddpc"); return 0; }
