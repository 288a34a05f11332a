/**
 * aiworkbench-status: the workbench session in JupyterLab.
 *
 * A status bar item (left) shows the project, the time left, the budget left and the
 * GPUs' use; a click opens the session panel (right area). The status comes from the
 * session's server (GET aiworkbench/status, every 15 s; the server asks the workbench
 * API at most once a minute); the countdown runs every second in between. Before the
 * end, toasts warn and unsaved documents are saved (./warnings).
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { SessionPanel } from './panel';
import { explanation, fetchStatus, ISessionStatus, summary } from './status';
import { EndWarnings } from './warnings';

const POLL_MS = 15_000;
const TICK_MS = 1_000;
const WARNING_AT = 15 * 60; // seconds left when the item turns to a warning

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'aiworkbench-status:plugin',
  description:
    'The workbench session: time and budget left, GPU use, warnings before the end ' +
    'and when its GPUs are idle.',
  autoStart: true,
  requires: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar) => {
    const item = new Widget();
    item.addClass('aiwb-status-item');
    const panel = new SessionPanel();
    const warnings = new EndWarnings(app, app.serviceManager.serverSettings);
    let status: ISessionStatus | null = null;
    let endsAt: number | null = null; // epoch seconds on this browser's clock

    const show = () => {
      if (status === null) {
        return;
      }
      const left = endsAt === null ? null : Math.max(endsAt - Date.now() / 1000, 0);
      item.node.textContent = summary(status, left);
      item.node.title = explanation(status, endsAt);
      item.node.classList.toggle(
        'aiwb-status-warning',
        status.ending || (left !== null && left <= WARNING_AT)
      );
      item.node.classList.toggle('aiwb-status-stale', status.error !== '');
      if (panel.isAttached) {
        panel.render(status, endsAt);
      }
      warnings.check(status, endsAt);
    };

    const poll = async () => {
      try {
        status = await fetchStatus(app.serviceManager.serverSettings);
      } catch (error) {
        console.warn('aiworkbench-status: the session server did not answer', error);
        return; // keep showing what was known
      }
      // time_left_s, not ends_at: this browser's clock may differ from the node's
      endsAt = status.time_left_s === null ? null : Date.now() / 1000 + status.time_left_s;
      show();
    };

    item.node.addEventListener('click', () => {
      if (!panel.isAttached) {
        app.shell.add(panel, 'right', { rank: 900 });
      }
      if (status !== null) {
        panel.render(status, endsAt);
      }
      app.shell.activateById(panel.id);
    });

    statusBar.registerStatusItem(plugin.id, {
      item,
      align: 'left',
      rank: 0
    });
    void poll();
    window.setInterval(() => void poll(), POLL_MS);
    window.setInterval(show, TICK_MS);
  }
};

export default plugin;
