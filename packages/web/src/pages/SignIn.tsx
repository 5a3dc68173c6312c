// Placeholder: the real page is being built.
export default function SignInPage() {
  return <h1>SignIn</h1>;
}
