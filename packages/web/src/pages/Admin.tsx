import { useSession } from '../session.tsx';
import { ApiKeys } from './admin/ApiKeys.tsx';
import { Members } from './admin/Members.tsx';

/** Team administration; App.tsx shows NotFound instead for everyone but admins. */
export default function AdminPage() {
  const { session } = useSession();
  return (
    <div className="admin-page">
      <div className="page-head">
        <h1>Admin</h1>
        <span className="muted">team {session?.team_name}</span>
      </div>
      <Members />
      <ApiKeys />
    </div>
  );
}
