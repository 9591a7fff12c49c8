/*
 * mem.c: returning free heap pages to the system (see mem.h).
 */
#include "common/pt.h"
#include "common/mem.h"

#include <malloc.h>

bool pt_mem_trim(size_t slack)
{
    struct mallinfo2 mi = mallinfo2();

    if (mi.fordblks + mi.fsmblks <= slack)
        return false;
    malloc_trim(0);
    return true;
}
