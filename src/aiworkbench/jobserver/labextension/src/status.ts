/**
 * The session's status as the server answers it (GET aiworkbench/status,
 * aiworkbench.jobserver.status), and the words the status bar and panel show.
 */

import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server's answer; null where a value is unknown. */
export interface ISessionStatus {
  job_id: string | null;
  node: string | null;
  partition: string | null;
  project: string | null;
  cpus: number | null;
  gpus: number;
  gpu_kind: 'nvidia' | 'simulated' | 'none';
  ends_at: number | null;
  time_left_s: number | null;
  budget: {
    project: string;
    gpu_hours_left: number | null;
    core_hours_left: number | null;
  } | null;
  gpu_utilisation: number | null;
  ending: boolean;
  ending_since: number | null;
  gpu_notice: string;
  error: string;
}

/** The status now, from the session's own server. */
export async function fetchStatus(
  settings: ServerConnection.ISettings
): Promise<ISessionStatus> {
  const url = URLExt.join(settings.baseUrl, 'aiworkbench', 'status');
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    throw await ServerConnection.ResponseError.create(response);
  }
  return (await response.json()) as ISessionStatus;
}

/** Ask the session's server to have the hub stop this session (its GPUs released). */
export async function releaseSession(settings: ServerConnection.ISettings): Promise<void> {
  const url = URLExt.join(settings.baseUrl, 'aiworkbench', 'release');
  const response = await ServerConnection.makeRequest(url, { method: 'POST' }, settings);
  if (!response.ok) {
    throw await ServerConnection.ResponseError.create(response);
  }
}

/** The hub's sessions page, where a session is extended or stopped. */
export function sessionsPage(): string {
  return hubPage('home');
}

/** The hub's "Get help" page, about this session. */
export function helpPage(): string {
  const server = PageConfig.getOption('hubServerName');
  return hubPage('help') + '?server=' + encodeURIComponent(server);
}

function hubPage(page: string): string {
  const prefix = PageConfig.getOption('hubPrefix') || '/hub/';
  return PageConfig.getOption('hubHost') + URLExt.join(prefix, page);
}

/** '1 h 05 min' style: '0 h 54 min', 'under 1 min'. */
export function duration(seconds: number): string {
  if (seconds < 60) {
    return 'under 1 min';
  }
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The wall-clock time of an epoch (seconds), 24-hour: e.g. '17:42'. */
export function clockTime(epoch: number): string {
  return new Date(epoch * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23'
  });
}

/** 'GPU', or 'simulated GPU' where the GPUs are simulated. */
export function gpuName(status: ISessionStatus): string {
  return status.gpu_kind === 'simulated' ? 'simulated GPU' : 'GPU';
}

/** The budget this session spends, in words: '12.3 GPU-h left' or '40.0 core-h left'. */
export function budgetLeft(status: ISessionStatus): string | null {
  const budget = status.budget;
  if (!budget) {
    return null;
  }
  if (status.gpus > 0) {
    return budget.gpu_hours_left === null
      ? null
      : `${budget.gpu_hours_left.toFixed(1)} GPU-h left`;
  }
  return budget.core_hours_left === null
    ? null
    : `${budget.core_hours_left.toFixed(1)} core-h left`;
}

/**
 * The status bar's line, e.g. 'edu-intro · 0 h 54 min left · 12.3 GPU-h left · GPU 45%';
 * parts whose values are unknown are left out. `left`: seconds left, or null.
 */
export function summary(status: ISessionStatus, left: number | null): string {
  const parts = [status.project || 'Session'];
  if (left !== null) {
    parts.push(`${duration(left)} left`);
  } else if (status.ending) {
    parts.push('ending');
  }
  const budget = budgetLeft(status);
  if (budget) {
    parts.push(budget);
  }
  if (status.gpu_utilisation !== null) {
    parts.push(`${gpuName(status)} ${Math.round(status.gpu_utilisation)}%`);
  }
  return parts.join(' · ');
}

/** The status bar's tooltip: what the numbers are. */
export function explanation(status: ISessionStatus, endsAt: number | null): string {
  const lines = [
    status.job_id
      ? `Slurm job ${status.job_id} on ${status.node} (partition ${status.partition}), ` +
        `charged to project ${status.project}.`
      : 'Not running as a Slurm job.'
  ];
  if (endsAt !== null) {
    lines.push(`Slurm ends this session at ${clockTime(endsAt)} unless it is extended.`);
  }
  const budget = budgetLeft(status);
  if (budget) {
    lines.push(`The project's budget: ${budget}.`);
  }
  if (status.error) {
    lines.push(`Note: ${status.error}; the numbers shown are the last known ones.`);
  }
  lines.push('Click for the session panel.');
  return lines.join('\n');
}
