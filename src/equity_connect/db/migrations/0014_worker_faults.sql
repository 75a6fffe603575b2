-- Connection loss is not the job's fault. A job whose worker lost its
-- database connection mid-run is handed back without spending an attempt,
-- but only a few times (connection_losses), so a job that itself kills its
-- backend still ends in the DLQ instead of looping forever.
alter table public.jobs add column if not exists connection_losses integer not null default 0;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'jobs_connection_losses_check') then
    alter table public.jobs add constraint jobs_connection_losses_check
      check (connection_losses >= 0);
  end if;
end
$$;

-- What a worker says about itself on every heartbeat, for /readyz and
-- /metrics: a live process whose job threads died or that cannot reach the
-- database is not a working worker. Counters are since the process started.
alter table public.workers add column if not exists state text not null default 'working';
alter table public.workers add column if not exists slots integer not null default 0;
alter table public.workers add column if not exists slots_alive integer not null default 0;
alter table public.workers add column if not exists loop_errors bigint not null default 0;
alter table public.workers add column if not exists db_reconnects bigint not null default 0;
alter table public.workers add column if not exists thread_restarts bigint not null default 0;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'workers_state_check') then
    alter table public.workers add constraint workers_state_check
      check (state in ('working', 'degraded', 'stopping'));
  end if;
end
$$;
