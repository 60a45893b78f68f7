/* no_cuda: never touches CUDA and is not linked to it. Prints `hello` and exits 0. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char *p = malloc(64);
    if (p == NULL)
        return 1;
    free(p);
    printf("hello\n");
    return 0;
}
