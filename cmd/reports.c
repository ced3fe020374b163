#include "cmd/reports.h"

#include "cmd/cli.h"
#include "util/banned.h"

bool reports_take(struct report_files *f, int opt, const char *arg)
{
    switch (opt) {
    case 'S':
        f->sarif = arg;
        return true;
    case 'U':
        f->junit = arg;
        return true;
    case 'M':
        f->markdown = arg;
        return true;
    default:
        return false;
    }
}

bool reports_wanted(const struct report_files *f)
{
    return f->sarif || f->junit || f->markdown;
}

bool reports_write(const struct report_files *f, const struct finding_list *l,
                   const struct report_meta *m)
{
    struct errbuf err = ERRBUF_INIT;
    if (report_write_files(f, l, m, &err) < 0) {
        cli_error("%s", err.msg);
        return false;
    }
    return true;
}
