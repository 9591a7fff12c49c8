/*
 * cache_fresh.c: freshness lifetimes, age and the choice between serving,
 * serving stale and validating (see cache_fresh.h).
 */
#include "common/pt.h"
#include "worker/mod/cache/cache_fresh.h"

int64_t pt_cache_initial_age(int64_t request_time, int64_t response_time, int64_t date_value,
                             int64_t age_value)
{
    if (date_value < 0)
        date_value = response_time;
    if (age_value < 0)
        age_value = 0;
    int64_t apparent_age = response_time - date_value;
    if (apparent_age < 0)
        apparent_age = 0;
    int64_t response_delay = response_time - request_time;
    if (response_delay < 0)
        response_delay = 0;
    int64_t corrected_age_value = age_value + response_delay;
    return apparent_age > corrected_age_value ? apparent_age : corrected_age_value;
}

int64_t pt_cache_current_age(const pt_cache_fresh_t *f, int64_t now)
{
    int64_t resident_time = now - f->response_time;

    if (resident_time < 0)
        resident_time = 0;
    int64_t age = f->corrected_initial_age + resident_time;
    return age > PT_CC_DELTA_MAX ? PT_CC_DELTA_MAX : age;
}

int64_t pt_cache_explicit_lifetime(const pt_cache_cc_t *cc, int64_t date_value,
                                   int64_t expires, int64_t response_time)
{
    if (cc->s_maxage >= 0)
        return cc->s_maxage;
    if (cc->max_age >= 0)
        return cc->max_age;
    if (expires == -1)
        return 0;               /* §5.3: an invalid Expires is a time in the past */
    if (expires >= 0) {
        int64_t d = expires - (date_value >= 0 ? date_value : response_time);
        return d > 0 ? d : 0;
    }
    return -1;
}

int64_t pt_cache_heuristic_lifetime(int64_t date_value, int64_t last_modified, int64_t max)
{
    if (last_modified < 0 || date_value < 0 || last_modified >= date_value)
        return 0;
    int64_t h = (date_value - last_modified) / 10;
    return h > max ? max : h;
}

bool pt_cache_status_heuristic(unsigned status)
{
    switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return true;
    default:
        return false;
    }
}

enum pt_cache_use pt_cache_usable(const pt_cache_fresh_t *f, const pt_cache_cc_t *req,
                                  int64_t now, int64_t *agep)
{
    int64_t age = pt_cache_current_age(f, now);

    *agep = age;
    if (f->no_cache || (req->flags & PT_CC_NO_CACHE))
        return PT_CACHE_USE_VALIDATE;
    /* max-age=0 asks for a validated response, whatever the clock's
     * one-second grain makes of the age */
    if (req->max_age >= 0 && (age > req->max_age || req->max_age == 0))
        return PT_CACHE_USE_VALIDATE;
    if (req->min_fresh >= 0 && f->lifetime - age < req->min_fresh)
        return PT_CACHE_USE_VALIDATE;
    if (f->lifetime > age)
        return PT_CACHE_USE_FRESH;
    if (f->must_revalidate)
        return PT_CACHE_USE_VALIDATE;
    int64_t staleness = age - f->lifetime;
    if ((req->flags & PT_CC_MAX_STALE_ANY) || (req->max_stale >= 0 && staleness <= req->max_stale))
        return PT_CACHE_USE_STALE;
    if (f->swr >= 0 && staleness < f->swr)
        return PT_CACHE_USE_SWR;
    return PT_CACHE_USE_VALIDATE;
}

bool pt_cache_stale_if_error(const pt_cache_fresh_t *f, const pt_cache_cc_t *req, int64_t now)
{
    if (f->must_revalidate || f->no_cache)
        return false;
    int64_t staleness = pt_cache_current_age(f, now) - f->lifetime;
    if (staleness < 0)
        staleness = 0;
    return (f->sie >= 0 && staleness <= f->sie)
           || (req->stale_if_error >= 0 && staleness <= req->stale_if_error);
}
