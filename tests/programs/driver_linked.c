/*
 * driver_linked: linked against libcuda (-lcuda), calls the driver API directly, so the calls
 * go through the PLT and reach an LD_PRELOAD that exports the same names. What it calls and
 * prints: see driver_calls.h.
 */
#include "fake_cuda.h"

#define CU(name) name
#include "driver_calls.h"

int main(void) { return run_driver_calls(); }
