/**
 * Warnings before the session's end, each once per session (per job, remembered in
 * sessionStorage): at 15 minutes left, a toast; at 5 minutes left, or as soon as Slurm
 * signals the end, every open document with unsaved changes is saved, then a toast.
 * And the hub's idle-GPU warning, once each time the GPUs go idle: "Release the GPUs"
 * saves every open document and stops the session; "I am still using them" keeps it.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';

import { ServerConnection } from '@jupyterlab/services';

import { clockTime, ISessionStatus, releaseSession, sessionsPage } from './status';

const WARN_AT = 15 * 60; // seconds left
const SAVE_AT = 5 * 60;

export class EndWarnings {
  private _given = new Set<string>();
  private _idleShown = false; // the idle-GPU toast of this idle spell was shown

  constructor(
    private _app: JupyterFrontEnd,
    private _settings: ServerConnection.ISettings
  ) {}

  /** Warn if it is time; `endsAt`: when the session ends (this browser's clock). */
  check(status: ISessionStatus, endsAt: number | null): void {
    this._idleGpus(status);
    const job = status.job_id;
    const left = endsAt === null ? null : endsAt - Date.now() / 1000;
    if (!job) {
      return;
    }
    if (status.ending || (left !== null && left <= SAVE_AT)) {
      if (this._once(job, 'saved')) {
        this._once(job, 'warned'); // too late for the first warning
        void this._saveAndSay(left);
      }
    } else if (left !== null && endsAt !== null && left <= WARN_AT && this._once(job, 'warned')) {
      Notification.warning(
        `Your session ends in ${minutes(left)} (at ${clockTime(endsAt)}). Save your work, ` +
          'or extend it on your sessions page.',
        {
          autoClose: false,
          actions: [{ label: 'Sessions page', callback: () => window.open(sessionsPage()) }]
        }
      );
    }
  }

  /** The hub's idle-GPU warning, once per idle spell (until the GPUs are used again). */
  private _idleGpus(status: ISessionStatus): void {
    if (!status.gpu_notice) {
      this._idleShown = false;
      return;
    }
    if (this._idleShown) {
      return;
    }
    this._idleShown = true;
    Notification.warning(`This session: ${status.gpu_notice}.`, {
      autoClose: false,
      actions: [
        {
          label: 'Release the GPUs',
          caption: 'Save every open document, then stop this session',
          callback: () => void this._release()
        },
        {
          label: 'I am still using them',
          caption: 'Keep the session; it is stopped only if the GPUs stay idle',
          displayType: 'link',
          callback: () => undefined
        }
      ]
    });
  }

  private async _release(): Promise<void> {
    const { saved, failed } = await saveUnsaved(this._app);
    if (failed) {
      Notification.error(
        `${failed} document(s) could not be saved: save them, then release the GPUs again.`,
        { autoClose: false }
      );
      this._idleShown = false;
      return;
    }
    await releaseSession(this._settings);
    Notification.info(
      `${saved ? `${saved} document(s) saved; the` : 'The'} session is stopping: its GPUs ` +
        'are free for others. Start a new one from your sessions page.',
      { autoClose: false }
    );
  }

  /** Whether warning `what` is still due for `job`; it is not from now on. */
  private _once(job: string, what: string): boolean {
    const key = `aiwb-warned:${job}:${what}`;
    let given = this._given.has(key);
    try {
      given = given || window.sessionStorage.getItem(key) !== null;
      window.sessionStorage.setItem(key, String(Date.now()));
    } catch {
      // no sessionStorage (privacy settings): remember in this page only
    }
    this._given.add(key);
    return !given;
  }

  private async _saveAndSay(left: number | null): Promise<void> {
    const { saved, failed } = await saveUnsaved(this._app);
    let message = `Your session ends in ${minutes(left ?? SAVE_AT)}: `;
    message += saved
      ? `${saved} ${saved === 1 ? 'document' : 'documents'} with unsaved changes ` +
        `${saved === 1 ? 'was' : 'were'} saved.`
      : failed ? '' : 'nothing was unsaved.';
    if (failed) {
      message += ` ${failed} could not be saved: save ${failed === 1 ? 'it' : 'them'} now.`;
    }
    Notification.warning(message.trim(), { autoClose: false });
  }
}

/** Save every document open in the main area that has unsaved changes (once each). */
export async function saveUnsaved(
  app: JupyterFrontEnd
): Promise<{ saved: number; failed: number }> {
  const contexts = new Set<DocumentRegistry.Context>();
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof DocumentWidget) {
      const model = widget.context.model;
      if (model.dirty && !model.readOnly) {
        contexts.add(widget.context);
      }
    }
  }
  const results = await Promise.allSettled([...contexts].map(context => context.save()));
  const saved = results.filter(r => r.status === 'fulfilled').length;
  return { saved, failed: results.length - saved };
}

/** '15 minutes', to the nearest minute; '1 minute' at least. */
function minutes(seconds: number): string {
  const n = Math.max(Math.round(seconds / 60), 1);
  return n === 1 ? '1 minute' : `${n} minutes`;
}
