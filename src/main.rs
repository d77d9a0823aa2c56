use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    marketscout::cli::main()
}
